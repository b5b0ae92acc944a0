"""The status revision: one counter in the database, bumped by every status change.

Pages, status.json and feeds are cached per revision. Reading the counter costs a query,
so each process remembers it for `TTL` seconds: a change made through this process is seen
at once (the memory is dropped after its commit), a change made by another replica within
`TTL`. The hot path of an anonymous page view then touches no database at all.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State

from app.db import after_commit
from app.status import repository

TTL = 1.0
_local_changes = 0


def _note_local_change() -> None:
    global _local_changes
    _local_changes += 1


async def do_bump(session: AsyncSession) -> None:
    """Count a change in this transaction; this process forgets the old count on commit."""
    await repository.bump_revision(session)
    after_commit(session, _note_local_change)


@dataclass(frozen=True, slots=True)
class _Seen:
    revision: int
    changed_at: datetime | None
    read_at: float
    local_changes: int


def _fresh(state: State, now: float) -> _Seen | None:
    seen = cast(_Seen | None, getattr(state, "status_revision_seen", None))
    if seen is not None and seen.local_changes == _local_changes and now - seen.read_at < TTL:
        return seen
    return None


async def current(state: State) -> tuple[int, datetime | None]:
    """The revision and when it changed, from memory when fresh enough."""
    seen = _fresh(state, time.monotonic())
    if seen is None:
        lock = getattr(state, "status_revision_lock", None)
        if lock is None:
            lock = state.status_revision_lock = asyncio.Lock()
        # One reader per process: after a change, a thousand waiting requests cost one query.
        async with lock:
            seen = _fresh(state, time.monotonic())
            if seen is None:
                seen = await _read(state)
    return seen.revision, seen.changed_at


async def _read(state: State) -> _Seen:
    changes, now = _local_changes, time.monotonic()
    sessionmaker = cast(async_sessionmaker[AsyncSession], state.sessionmaker)
    async with sessionmaker() as session:
        revision, changed_at = await repository.revision(session)
    seen = _Seen(revision, changed_at, now, changes)
    state.status_revision_seen = seen
    return seen
