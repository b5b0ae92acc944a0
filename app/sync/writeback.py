"""Write-back: add a public comment or an internal note to a ticket through its connector.

The write is recorded (`ConnectorWrite`) *before* the remote call, under its idempotency
key, and completed with the external comment id after it: a sync that reads the comment
back in between still recognizes it as ours (the connectors report the key they put in
the comment), so it is never ingested as someone else's. A retry with the same key finds
the first write (the connectors look for their marker before writing again).

`WriteBackWorkerBase` is the loop of the workers that write rows of their own this way
(chat messages: `app.chat.writeback`; closing comments: `app.sync.closing`): lease due
rows, plan each write (or why none will be), write it under its key, and record the
outcome; a failure is retried with backoff for ever (at most hourly), nothing is dropped.

Files go with a public comment only, and only to a connector that declares `WRITE_FILES`
(`connectors.base.add_comment_with_files`). When the system refuses one (too large for
it), a plan that says how (`PlannedWrite.body_keeping`) is written again without the
refused files, naming them as kept in Socialdesk, and the refusal is recorded on the row.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Literal

import httpx
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.errors import AppError, NotFound
from app.kit.leases import worker_identity
from app.kit.polling import poll_until_stopped
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance, ConnectorWrite, Ticket
from app.sync import instances
from app.sync.ingest import PENDING_WRITE
from connectors.base import (
    Capability,
    ConnectorError,
    FileRefused,
    FileToSend,
    NotSupported,
    RateLimited,
    Visibility,
    add_comment_with_files,
)

NEEDS = {
    Visibility.PUBLIC: Capability.WRITE_PUBLIC_COMMENT,
    Visibility.INTERNAL: Capability.WRITE_INTERNAL_NOTE,
}


@dataclass(frozen=True)
class WriteBack:
    external_comment_id: str
    visibility: Visibility
    already_written: bool  # an earlier call with the same key had completed it


async def do_write_back(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    box: SecretBox,
    http: httpx.AsyncClient,
    ticket_id: int,
    body: str,
    idempotency_key: str,
    visibility: Visibility | Literal["public", "internal"] = Visibility.INTERNAL,
    files: Sequence[FileToSend] = (),
) -> WriteBack:
    """Write `body` to the ticket (internal unless told otherwise), exactly once per key.

    `files` are attached to a public comment by a connector that declares `WRITE_FILES`;
    others, and every internal note, get none (the caller names them in `body` instead).
    A system that refuses one raises `FileRefused` before writing anything.

    Raises `NotFound` for an unknown ticket, `NotSupported` when the connector cannot write
    that visibility, and the connector's errors as they are: `WriteNotApplied` when the
    system ignored the write, `TransientError`/`RateLimited` to retry later, `AuthError`.
    Each call is its own transactions; the remote call happens outside any of them.
    """
    wanted = Visibility(visibility)
    async with unit_of_work(sessionmaker) as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            raise NotFound("ticket not found")
        instance = await session.get(ConnectorInstance, ticket.connector_id)
        assert instance is not None  # tickets are deleted with their connector
        done = await _completed(session, idempotency_key)
        if done is not None:
            return WriteBack(done.external_comment_id, Visibility(done.visibility), True)
        cls = instances.connector_class(instance.kind)
        if NEEDS[wanted] not in cls.capabilities:
            raise NotSupported(f"the {instance.kind} connector cannot write {wanted.value} text")
        connector = instances.build(instance, box, http)
        external_id, connector_id = ticket.external_id, instance.id
    await _record_pending(sessionmaker, connector_id, ticket_id, idempotency_key, wanted)
    # On any failure the pending record stays: if the comment did land, the next sync
    # still knows it as ours, and a retry with the key completes the record.
    comment_id = await add_comment_with_files(
        connector, external_id, body, wanted, idempotency_key, files
    )
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(ConnectorWrite)
            .where(ConnectorWrite.idempotency_key == idempotency_key)
            .values(external_comment_id=comment_id, visibility=wanted.value)
            .execution_options(synchronize_session=False)
        )
    return WriteBack(comment_id, wanted, False)


async def _completed(session: AsyncSession, idempotency_key: str) -> ConnectorWrite | None:
    write = await session.scalar(
        select(ConnectorWrite).where(ConnectorWrite.idempotency_key == idempotency_key)
    )
    if write is None or write.external_comment_id.startswith(PENDING_WRITE):
        return None
    return write


async def _record_pending(
    sessionmaker: async_sessionmaker[AsyncSession],
    connector_id: int,
    ticket_id: int,
    idempotency_key: str,
    visibility: Visibility,
) -> None:
    try:
        async with unit_of_work(sessionmaker) as session:
            exists = await session.scalar(
                select(ConnectorWrite.id).where(ConnectorWrite.idempotency_key == idempotency_key)
            )
            if exists is None:
                session.add(
                    ConnectorWrite(
                        connector_id=connector_id,
                        ticket_id=ticket_id,
                        idempotency_key=idempotency_key,
                        # Unique per connector like real ids, and short enough for the column.
                        external_comment_id=PENDING_WRITE
                        + hashlib.sha256(idempotency_key.encode()).hexdigest()[:48],
                        visibility=visibility.value,
                    )
                )
    except IntegrityError:
        pass  # a concurrent call with the same key recorded it: the connector dedupes the write


# The workers' loop ------------------------------------------------------------------------

LEASE = timedelta(seconds=120)
BASE_DELAY = 5.0
MAX_DELAY = 3600.0  # retried for ever, but at most hourly: nothing is dropped


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential with jitter, capped hourly, never sooner than the system asked."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** min(attempts, 12))
    return max(random.uniform(ceiling / 2, ceiling), retry_after or 0.0)  # noqa: S311


@dataclass(frozen=True)
class PlannedWrite:
    """What a worker writes for one of its rows: `body` to the ticket, under the key."""

    ticket_id: int
    body: str
    idempotency_key: str
    visibility: Visibility
    files: tuple[FileToSend, ...] = ()
    # The body to write when the system refuses some of `files`: they stay in Socialdesk
    # and the text names them. None: a refusal is a recorded failure like any other.
    body_keeping: Callable[[Sequence[FileToSend]], str] | None = None


class WriteBackWorkerBase(ABC):
    """Runs until `stop` is set: leases due rows, writes each once, records the outcome.

    A subclass says which rows are due and leases one (`_due`, `_lease`, in one
    transaction), what to write for a row or why nothing will be (`_plan`: a reason is a
    recorded skip), and what to record (`_finish`, `_record_failure`). Rows are named by
    id. A connector that cannot take the write (`NotSupported`) is a recorded skip; an
    error of ours or of the connector (or one of `plan_errors` while planning) a recorded
    failure, retried after `retry_delay` (never sooner than a `RateLimited` asked); any
    other error is logged with its traceback and recorded as `internal_error`.
    """

    noun: ClassVar[str]  # one row in log lines: "<noun> <id> failed ..."
    loop_label: ClassVar[str]  # one pass, in the polling loop's log lines
    owner_tag: ClassVar[str]  # lease owner: "<worker identity>:<owner_tag>"
    plan_errors: ClassVar[tuple[type[Exception], ...]] = (AppError, ConnectorError)

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        box: SecretBox,
        http: httpx.AsyncClient,
        *,
        tick: float = 1.0,
        batch: int = 20,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.box = box
        self.http = http
        self.tick = tick
        self.wake = wake
        self.batch = batch
        self.owner = f"{worker_identity()}:{self.owner_tag}"

    @property
    def log(self) -> logging.Logger:
        """The subclass's module logger: its records name the domain, not this module."""
        return logging.getLogger(type(self).__module__)

    async def run(self, stop: asyncio.Event) -> None:
        await poll_until_stopped(
            stop,
            self.run_once,
            tick=self.tick,
            full=self.batch,
            what=self.loop_label,
            wake=self.wake,
        )

    async def run_once(self) -> int:
        """One pass over what is due now; returns how many rows it handled."""
        claimed = await self._claim()
        for row_id in claimed:
            await self._write_one(row_id)
        return len(claimed)

    async def _claim(self) -> list[int]:
        now = utcnow()
        async with unit_of_work(self.sessionmaker) as session:
            claimed = []
            for row_id in await self._due(session, now):
                if await self._lease(session, row_id, now=now, until=now + LEASE):
                    claimed.append(row_id)
            return claimed

    async def _write_one(self, row_id: int) -> None:
        try:
            plan = await self._plan(row_id)
        except self.plan_errors as exc:
            await self._failed(row_id, exc)
            return
        if isinstance(plan, str):
            await self._finish(row_id, skipped=plan)
            return
        try:
            written, refusal = await self._write(plan)
        except NotSupported as exc:
            await self._finish(row_id, skipped=exc.message)
            return
        except (AppError, ConnectorError) as exc:
            await self._failed(row_id, exc)
            return
        except Exception as exc:
            # The noun in the template, so each worker's log lines read as they always did.
            self.log.exception(f"{self.noun} %s crashed", row_id)
            await self._failed(row_id, exc)
            return
        await self._finish(row_id, external_comment_id=written.external_comment_id, warning=refusal)

    async def _write(self, plan: PlannedWrite) -> tuple[WriteBack, str | None]:
        """Write the plan; if the system refuses some of its files and the plan says how,
        write it again without them. The refusal as recorded, when there was one."""
        try:
            return await self._write_files(plan, plan.body, plan.files), None
        except FileRefused as exc:
            if plan.body_keeping is None:
                raise
            refused = [f for f in plan.files if f in exc.refused]
            kept = tuple(f for f in plan.files if f not in exc.refused)
            self.log.warning("%s: %s; written without those files", self.noun, exc.message)
            written = await self._write_files(plan, plan.body_keeping(refused), kept)
            return written, self._describe(exc)

    async def _write_files(
        self, plan: PlannedWrite, body: str, files: Sequence[FileToSend]
    ) -> WriteBack:
        # Recorded before the remote call, completed after: see do_write_back.
        return await do_write_back(
            self.sessionmaker,
            box=self.box,
            http=self.http,
            ticket_id=plan.ticket_id,
            body=body,
            idempotency_key=plan.idempotency_key,
            visibility=plan.visibility,
            files=files,
        )

    def _describe(self, exc: Exception) -> str:
        """The error as recorded: ours and the connectors' by code and message, others by type."""
        if isinstance(exc, ConnectorError | AppError):
            return f"{exc.code}: {exc.message}"
        return f"internal_error: {type(exc).__name__}"

    async def _failed(self, row_id: int, exc: Exception) -> None:
        error = self._describe(exc)
        retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        delay = await self._record_failure(row_id, error, retry_after)
        if delay is not None:
            self.log.warning(
                f"{self.noun} %s failed (%s); retrying in %.0f s", row_id, error, delay
            )

    @abstractmethod
    async def _due(self, session: AsyncSession, now: datetime) -> Sequence[int]:
        """The ids of up to `batch` rows due now, oldest first."""

    @abstractmethod
    async def _lease(
        self, session: AsyncSession, row_id: int, *, now: datetime, until: datetime
    ) -> bool:
        """Lease the row to `self.owner` until `until`, unless it is done or leased."""

    @abstractmethod
    async def _plan(self, row_id: int) -> PlannedWrite | str:
        """What to write, or why nothing will be (a recorded skip)."""

    @abstractmethod
    async def _finish(
        self,
        row_id: int,
        *,
        external_comment_id: str | None = None,
        skipped: str | None = None,
        warning: str | None = None,
    ) -> None:
        """Record the write (`external_comment_id`) or the skip, and release the lease;
        `warning`: what the system refused of the write (files it would not take)."""

    @abstractmethod
    async def _record_failure(
        self, row_id: int, error: str, retry_after: float | None
    ) -> float | None:
        """Record the failure, release the lease and schedule the retry after
        `retry_delay(attempts, retry_after)`: that delay, or None if the row is gone."""
