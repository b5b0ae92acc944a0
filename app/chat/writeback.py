"""Write-back: chat messages become comments (public) or notes (internal) on the ticket.

Scheduling happens in the message's transaction (a `chat_writebacks` row), the write
itself in a worker, outside any request, so an unreachable ticketing system only delays
it. The write goes through `app.sync.writeback.do_write_back` with the idempotency key
`chat:<message id>`: it records the `ConnectorWrite` before the remote call, so the sync
engine recognizes the comment when it comes back, however soon.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, cast

import httpx
from sqlalchemy import Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.bulk_insert import BulkInsert
from app.kit.clock import utcnow
from app.kit.errors import AppError
from app.kit.polling import poll_until_stopped
from app.kit.secrets import SecretBox
from app.models import ChatMessage, ChatWriteback, ConnectorInstance, Ticket, User
from app.policy.egress import InternalContentLeak, destination_is_internal, guard_egress
from app.sync import instances
from app.sync.worker import worker_identity
from app.sync.writeback import do_write_back
from connectors.base import (
    Capability,
    Connector,
    ConnectorError,
    NotSupported,
    RateLimited,
    Visibility,
)

if TYPE_CHECKING:
    from app.chat.service import ChatMessageEvent

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=120)
BASE_DELAY = 5.0
MAX_DELAY = 3600.0  # keep retrying for ever, but at most hourly: nothing is dropped


_INSERT_WRITEBACKS = BulkInsert(
    cast(Table, ChatWriteback.__table__),
    columns=(
        "message_id",
        "connector_id",
        "visibility",
        "state",
        "attempts",
        "next_attempt_at",
        "created_at",
    ),
)


def writeback_key(message_id: int) -> str:
    return f"chat:{message_id}"


async def schedule_writeback(session: AsyncSession, events: Sequence[ChatMessageEvent]) -> None:
    """Default rule: public messages as public comments, internal ones as internal notes."""
    now = utcnow()
    rows = [
        {
            "message_id": e.message_id,
            "connector_id": e.connector_id,
            "visibility": e.visibility,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for e in events
    ]
    await _INSERT_WRITEBACKS.run(session, rows)  # one statement (app.kit.bulk_insert)


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential with jitter, capped hourly, never sooner than the system asked."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** min(attempts, 12))
    return max(random.uniform(ceiling / 2, ceiling), retry_after or 0.0)  # noqa: S311


@dataclass(frozen=True)
class _Write:
    ticket_id: int
    body: str
    visibility: Visibility
    message_id: int


def _skip_reason(connector: type[Connector], writeback: ChatWriteback) -> str | None:
    needed = (
        Capability.WRITE_INTERNAL_NOTE
        if writeback.visibility == "internal"
        else Capability.WRITE_PUBLIC_COMMENT
    )
    if needed not in connector.capabilities:
        kind = "internal notes" if writeback.visibility == "internal" else "public comments"
        return f"the {connector.kind} connector cannot write {kind}"
    return None


def _egress_refusal(message: ChatMessage, writeback: ChatWriteback) -> str | None:
    """The egress door toward the ticketing system: internal only as an internal note."""
    try:
        guard_egress(
            "internal" if message.visibility == "internal" else "public",
            "external",
            destination_is_internal(
                "ticket", "external", marked_internal=writeback.visibility == "internal"
            ),
            None,
            may_see_ticket=True,
            channel="ticket",
        )
    except InternalContentLeak as exc:
        log.error("chat write-back of message %s refused: %s", message.id, exc.reason)
        return f"egress refused: {exc.reason}"
    return None


class WritebackWorker:
    """Runs until `stop` is set: claims due write-backs, writes each once, records it."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        box: SecretBox,
        http: httpx.AsyncClient,
        *,
        tick: float = 1.0,
        batch: int = 20,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.box = box
        self.http = http
        self.tick = tick
        self.batch = batch
        self.owner = f"{worker_identity()}:chat"

    async def run(self, stop: asyncio.Event) -> None:
        await poll_until_stopped(
            stop, self.run_once, tick=self.tick, full=self.batch, what="chat write-back pass"
        )

    async def run_once(self) -> int:
        """One pass over what is due now; returns how many write-backs it handled."""
        claimed = await self._claim()
        for writeback_id in claimed:
            await self._write_one(writeback_id)
        return len(claimed)

    async def _claim(self) -> list[int]:
        now = utcnow()
        free = or_(ChatWriteback.lease_expires_at.is_(None), ChatWriteback.lease_expires_at < now)
        async with unit_of_work(self.sessionmaker) as session:
            due = select(ChatWriteback.id).where(
                ChatWriteback.state == "pending", ChatWriteback.next_attempt_at <= now, free
            )
            ids = list(
                (await session.execute(due.order_by(ChatWriteback.id).limit(self.batch))).scalars()
            )
            claimed = []
            for writeback_id in ids:
                result = await session.execute(
                    update(ChatWriteback)
                    .where(ChatWriteback.id == writeback_id, ChatWriteback.state == "pending", free)
                    .values(lease_owner=self.owner, lease_expires_at=now + LEASE)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append(writeback_id)
            return claimed

    async def _write_one(self, writeback_id: int) -> None:
        try:
            plan = await self._plan(writeback_id)
        except (AppError, ConnectorError, ValueError) as exc:
            await self._failed(writeback_id, exc)
            return
        if isinstance(plan, str):
            await self._finish(writeback_id, skipped=plan)
            return
        try:
            # Recorded before the remote call, completed after: see app/sync/writeback.py.
            written = await do_write_back(
                self.sessionmaker,
                box=self.box,
                http=self.http,
                ticket_id=plan.ticket_id,
                body=plan.body,
                idempotency_key=writeback_key(plan.message_id),
                visibility=plan.visibility,
            )
        except NotSupported as exc:
            await self._finish(writeback_id, skipped=exc.message)
            return
        except (AppError, ConnectorError) as exc:
            await self._failed(writeback_id, exc)
            return
        except Exception as exc:
            log.exception("chat write-back %s crashed", writeback_id)
            await self._failed(writeback_id, exc)
            return
        await self._finish(writeback_id, external_comment_id=written.external_comment_id)

    async def _plan(self, writeback_id: int) -> _Write | str:
        """What to write, or why nothing will be (a recorded skip)."""
        async with unit_of_work(self.sessionmaker) as session:
            writeback = await session.get(ChatWriteback, writeback_id)
            assert writeback is not None
            message = await session.get(ChatMessage, writeback.message_id)
            instance = await session.get(ConnectorInstance, writeback.connector_id)
            assert message is not None
            assert instance is not None
            ticket = await session.get(Ticket, message.ticket_id)
            author = await session.get(User, message.author_user_id or 0)
        assert ticket is not None
        if message.deleted_at is not None:
            return "the message was deleted before it was written back"
        reason = _skip_reason(instances.connector_class(instance.kind), writeback)
        if reason is None:
            reason = _egress_refusal(message, writeback)
        if reason is not None:
            return reason
        signature = f"\n\n— {author.name if author else 'someone'}, via Socialdesk chat"
        return _Write(
            ticket_id=ticket.id,
            body=message.body + signature,
            visibility=Visibility(writeback.visibility),
            message_id=message.id,
        )

    async def _finish(
        self,
        writeback_id: int,
        *,
        external_comment_id: str | None = None,
        skipped: str | None = None,
    ) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            writeback = await session.get(ChatWriteback, writeback_id)
            assert writeback is not None
            writeback.attempts += 1
            writeback.lease_owner = writeback.lease_expires_at = None
            writeback.done_at = utcnow()
            if skipped is not None:
                writeback.state, writeback.skipped_reason = "skipped", skipped
                log.info("chat write-back %s skipped: %s", writeback_id, skipped)
                return
            writeback.state = "done"
            writeback.external_comment_id = external_comment_id
            message = await session.get(ChatMessage, writeback.message_id)
            assert message is not None
            message.external_comment_id = external_comment_id

    async def _failed(self, writeback_id: int, exc: Exception) -> None:
        if isinstance(exc, ConnectorError | AppError):
            error = f"{exc.code}: {exc.message}"
        else:
            error = f"internal_error: {type(exc).__name__}"
        retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        async with unit_of_work(self.sessionmaker) as session:
            writeback = await session.get(ChatWriteback, writeback_id)
            assert writeback is not None
            writeback.attempts += 1
            writeback.last_error = error
            writeback.lease_owner = writeback.lease_expires_at = None
            delay = retry_delay(writeback.attempts, retry_after)
            writeback.next_attempt_at = utcnow() + timedelta(seconds=delay)
        log.warning(
            "chat write-back %s failed (%s); retrying in %.0f s", writeback_id, error, delay
        )
