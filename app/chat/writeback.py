"""Write-back: chat messages become comments (public) or notes (internal) on the ticket.

Scheduling happens in the message's transaction (a `chat_writebacks` row), the write
itself in a worker, outside any request, so an unreachable ticketing system only delays
it. The write goes through `app.sync.writeback.do_write_back` with the idempotency key
`chat:<message id>`: it records the `ConnectorWrite` before the remote call, so the sync
engine recognizes the comment when it comes back, however soon. The worker's loop (lease,
write, retry with backoff) is `app.sync.writeback.WriteBackWorkerBase`.

Files: a public message's files travel as the ticket's own attachments when the connector
declares `WRITE_FILES` (read from the blob store as they are sent); otherwise, and always
for an internal message, they stay in Socialdesk and the text names them. Internal
messages never send files: no connector promises an internal attachment (Redmine has
none), and the egress guard only vouches for the note being internal, not its files. A
file the system refuses (too large for it) stays in Socialdesk the same way, named in the
text, and the refusal is recorded on the write-back (`last_error`, state `done`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast

import httpx
from sqlalchemy import ColumnElement, Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.schemas import ChatMessageEvent
from app.db import unit_of_work
from app.files.service import files_to_send
from app.files.store import BlobStore
from app.kit.bulk_insert import BulkInsert
from app.kit.clock import utcnow
from app.kit.errors import AppError
from app.kit.secrets import SecretBox
from app.kit.wakeups import wake_after_commit
from app.models import ChatMessage, ChatWriteback, ConnectorInstance, Ticket, User
from app.policy.guard.egress import InternalContentLeak, destination_is_internal, guard_egress
from app.sync import instances
from app.sync.writeback import (
    BASE_DELAY,
    LEASE,
    MAX_DELAY,
    PlannedWrite,
    WriteBackWorkerBase,
    retry_delay,
)
from connectors.base import Capability, Connector, ConnectorError, FileToSend, Visibility

__all__ = [
    "BASE_DELAY",
    "LEASE",
    "MAX_DELAY",
    "WritebackWorker",
    "retry_delay",
    "schedule_writeback",
    "writeback_key",
]

log = logging.getLogger(__name__)
# The wake-up queue of the chat write-back worker (app.kit.wakeups).
WRITEBACK_QUEUE = "chat-writeback"


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
    if rows:
        wake_after_commit(session, WRITEBACK_QUEUE)


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


def _comment(message: ChatMessage, author: str, kept: Sequence[str]) -> str:
    """The text, the files that stay in Socialdesk (if any), the signature."""
    files = f"\n\nFiles in the Socialdesk chat: {', '.join(kept)}" if kept else ""
    return f"{message.body}{files}\n\n— {author}, via Socialdesk chat"


def _free(now: datetime) -> ColumnElement[bool]:
    """Not leased to a live worker."""
    return or_(ChatWriteback.lease_expires_at.is_(None), ChatWriteback.lease_expires_at < now)


class WritebackWorker(WriteBackWorkerBase):
    """Runs until `stop` is set: claims due write-backs, writes each once, records it."""

    noun = "chat write-back"
    loop_label = "chat write-back pass"
    owner_tag = "chat"
    plan_errors = (AppError, ConnectorError, ValueError)

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        box: SecretBox,
        http: httpx.AsyncClient,
        *,
        files: BlobStore | None = None,
        tick: float = 1.0,
        batch: int = 20,
        wake: asyncio.Event | None = None,
    ) -> None:
        super().__init__(sessionmaker, box, http, tick=tick, batch=batch, wake=wake)
        # Where attachment bytes are; without it, files are named, never sent.
        self.files = files

    async def _due(self, session: AsyncSession, now: datetime) -> Sequence[int]:
        due = select(ChatWriteback.id).where(
            ChatWriteback.state == "pending", ChatWriteback.next_attempt_at <= now, _free(now)
        )
        return list(
            (await session.execute(due.order_by(ChatWriteback.id).limit(self.batch))).scalars()
        )

    async def _lease(
        self, session: AsyncSession, writeback_id: int, *, now: datetime, until: datetime
    ) -> bool:
        result = await session.execute(
            update(ChatWriteback)
            .where(ChatWriteback.id == writeback_id, ChatWriteback.state == "pending", _free(now))
            .values(lease_owner=self.owner, lease_expires_at=until)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def _plan(self, writeback_id: int) -> PlannedWrite | str:
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
        signed = author.name if author else "someone"
        names = [a["filename"] for a in message.attachments or []]
        sendable = await self._sendable(message, writeback, instance.kind)
        if sendable is None:  # the files stay in Socialdesk; the comment names them
            return PlannedWrite(
                ticket_id=ticket.id,
                body=_comment(message, signed, names),
                idempotency_key=writeback_key(message.id),
                visibility=Visibility(writeback.visibility),
            )
        files, unreadable = sendable
        return PlannedWrite(
            ticket_id=ticket.id,
            body=_comment(message, signed, unreadable),
            idempotency_key=writeback_key(message.id),
            visibility=Visibility(writeback.visibility),
            files=tuple(files),
            body_keeping=lambda refused: _comment(
                message, signed, [*unreadable, *(f.filename for f in refused)]
            ),
        )

    async def _sendable(
        self, message: ChatMessage, writeback: ChatWriteback, kind: str
    ) -> tuple[list[FileToSend], list[str]] | None:
        """The message's files to attach, and the names of those that cannot be read;
        None when they stay in Socialdesk: internal, or a connector without files."""
        if (
            not message.attachments
            or self.files is None
            or message.visibility != "public"  # fail closed: only an explicit "public"
            or writeback.visibility != "public"
            or Capability.WRITE_FILES not in instances.connector_class(kind).capabilities
        ):
            return None
        order = [a["id"] for a in message.attachments]
        async with unit_of_work(self.sessionmaker) as session:
            files, missing = await files_to_send(
                session, self.files, message_id=message.id, order=order
            )
        return files, [a.filename for a in missing]

    async def _finish(
        self,
        writeback_id: int,
        *,
        external_comment_id: str | None = None,
        skipped: str | None = None,
        warning: str | None = None,
    ) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            writeback = await session.get(ChatWriteback, writeback_id)
            assert writeback is not None
            writeback.attempts += 1
            if warning is not None:  # files the system refused: they stay in Socialdesk
                writeback.last_error = warning[:2000]
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

    async def _record_failure(
        self, writeback_id: int, error: str, retry_after: float | None
    ) -> float:
        async with unit_of_work(self.sessionmaker) as session:
            writeback = await session.get(ChatWriteback, writeback_id)
            assert writeback is not None
            writeback.attempts += 1
            writeback.last_error = error
            writeback.lease_owner = writeback.lease_expires_at = None
            delay = retry_delay(writeback.attempts, retry_after)
            writeback.next_attempt_at = utcnow() + timedelta(seconds=delay)
        return delay
