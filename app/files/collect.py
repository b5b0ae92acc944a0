"""The sweeper: rows of deleted messages and forgotten uploads go, then blobs nobody names.

Safe with any number of workers. Rows are claimed by one conditional DELETE ... RETURNING
(each row goes to exactly one pass, and a row attached meanwhile no longer matches). A
blob is then deleted only under its lock and only when no row at all names its SHA-256:
an upload of the same content holds that lock from its row to its commit, so it either
finds the blob gone and writes it again, or keeps it from being deleted.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.files import repository
from app.files.store import BlobStore
from app.kit.clock import utcnow
from app.kit.polling import poll_until_stopped

log = logging.getLogger(__name__)
# An upload no message took within a day was abandoned (a closed tab, a cancelled send).
UNATTACHED_TTL = timedelta(days=1)
BATCH = 500


async def collect_attachments(
    sessionmaker: async_sessionmaker[AsyncSession],
    store: BlobStore,
    *,
    unattached_ttl: timedelta = UNATTACHED_TTL,
    limit: int = BATCH,
) -> int:
    """One pass: delete up to `limit` collectable rows, then their unreferenced blobs."""
    async with unit_of_work(sessionmaker) as session:
        shas = await repository.delete_collectable(
            session, unattached_before=utcnow() - unattached_ttl, limit=limit
        )
    # After the rows' commit: a crash here leaves a blob nobody names (space, never data).
    for sha256 in sorted(set(shas)):
        async with unit_of_work(sessionmaker) as session:
            await repository.lock_blob(session, sha256)
            if not await repository.is_referenced(session, sha256):
                await store.delete(sha256)
    return len(shas)


class AttachmentSweeper:
    """The worker: one pass a minute (at once again while there is a full batch)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        store: BlobStore,
        *,
        tick: float = 60.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.store = store
        self.tick = tick

    async def run(self, stop: asyncio.Event) -> None:
        async def one_pass() -> int:
            return await collect_attachments(self.sessionmaker, self.store)

        await poll_until_stopped(
            stop, one_pass, tick=self.tick, full=BATCH, what="attachment sweeper"
        )
