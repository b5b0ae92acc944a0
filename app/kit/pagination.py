"""Keyset pagination by id: stable under inserts, cheap at any depth."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from app.kit.ids import Cursor, NumberCursor

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
After = Annotated[Cursor | None, Query(description="return items with an id after this")]
# For lists ordered by a 32-bit number rather than an id (policy versions).
AfterNumber = Annotated[
    NumberCursor | None, Query(description="return items with a number after this")
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_after: int | None = None
