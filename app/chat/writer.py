"""Batched message writes for the WebSocket path: many messages, one transaction.

One commit per message caps a SQLite server near a few thousand messages a second; here
every message that arrives while a transaction is in flight joins the next one. Each
sender's future resolves after its batch has committed (and was published), so an ack
still means "stored".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.limits import MAX_ATTACHMENTS
from app.chat.service import NewMessage, PostOutcome, do_post_messages
from app.db import dedicated_writer, unit_of_work
from app.realtime.bus import Bus

log = logging.getLogger(__name__)
MAX_BATCH = 200

Pending = tuple[NewMessage, "asyncio.Future[PostOutcome]"]


class MessageWriter:
    """Collects posts and writes them in batches, in arrival order."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        bus: Bus,
        *,
        max_batch: int = MAX_BATCH,
        max_attachments: int = MAX_ATTACHMENTS,
    ) -> None:
        self.sessionmaker, self._engine = dedicated_writer(sessionmaker)
        self.bus = bus
        self.max_batch = max_batch
        self.max_attachments = max_attachments
        self._pending: list[Pending] = []
        self._known_tickets: dict[int, int] = {}  # ticket -> connector, never changes
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def submit(self, post: NewMessage) -> asyncio.Future[PostOutcome]:
        """Queue a post; the future gives its outcome once the batch has committed."""
        future: asyncio.Future[PostOutcome] = asyncio.get_running_loop().create_future()
        self._pending.append((post, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="chat-writer")
        self._wakeup.set()
        return future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._engine is not None:
            await self._engine.dispose()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._write(batch)

    async def _store(self, batch: list[Pending]) -> list[PostOutcome]:
        async with unit_of_work(self.sessionmaker) as session:
            return await do_post_messages(
                session,
                [p for p, _ in batch],
                bus=self.bus,
                known_tickets=self._known_tickets,
                max_attachments=self.max_attachments,
            )

    async def _write(self, batch: list[Pending]) -> None:
        try:
            try:
                outcomes = await self._store(batch)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # The connection died (a database restart): the pool has dropped it, and
                # the same batch goes again on a new one.
                outcomes = await self._store(batch)
        except Exception as exc:
            if len(batch) > 1:
                # One bad row (a race on a client_msg_id, a ticket deleted meanwhile) must
                # not fail its neighbours: write them one by one.
                for single in batch:
                    await self._write([single])
                return
            log.warning("chat message could not be stored: %r", exc)
            _settle(batch[0][1], exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)


def _settle(future: asyncio.Future[PostOutcome], result: PostOutcome | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
