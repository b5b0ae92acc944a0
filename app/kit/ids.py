"""Ids and cursors as clients send them, bounded to what the database columns hold.

Every id, cursor and number a client sends (path, query, JSON body, WebSocket frame) is
one of these types, so a value the database cannot bind is a 422 like any other bad
input, never an overflow inside the driver (a 500). Ids are 64-bit on both databases
(BIGINT on PostgreSQL, INTEGER on SQLite); a few counters are 32-bit INTEGER columns
on PostgreSQL. The bounds are plain `annotated_types` metadata, so one alias works for
FastAPI parameters and pydantic fields alike, and shows in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Interval

MAX_ID = 2**63 - 1
MAX_NUMBER = 2**31 - 1

Id = Annotated[int, Interval(ge=1, le=MAX_ID)]
"""A row id: 1 to 2**63 - 1."""

Cursor = Annotated[int, Interval(ge=0, le=MAX_ID)]
"""A keyset cursor (`after`, `since`): an id or a revision; 0 is before everything."""

Number = Annotated[int, Interval(ge=1, le=MAX_NUMBER)]
"""A 32-bit counter that clients name things by (a policy version number)."""

NumberCursor = Annotated[int, Interval(ge=0, le=MAX_NUMBER)]
"""A keyset cursor over 32-bit numbers."""
