"""Closing comments: when an incident is resolved, its linked tickets hear it, once.

Resolving an incident records the intent on every linked ticket (`closing_requested_at`,
in the resolving transaction: `repository.request_closing_comments`). This worker carries
it out, outside any request, in the loop it shares with the chat write-back
(`app.sync.writeback.WriteBackWorkerBase`): it leases a due link, writes a *public* comment
through the ticket's connector with `app.sync.writeback.do_write_back` under the key
`status-closing:<incident>:<ticket>`, and stamps `closing_written_at`. The text is the
incident's approved public resolution text (`repository.resolution_update`), released
exactly as the public page releases it and passed through the egress guard toward the
ticketing system, as chat write-back does.

Nothing is lost: a failure is recorded (`closing_last_error`, `closing_attempts`) and
retried with backoff for ever (at most hourly). Nothing is written twice: the write is
recorded under its key before the remote call, a retry with the key finds it, and a
worker that dies after writing leaves a completed record the next one reuses. A connector
that cannot write public comments is a recorded skip. A ticket of an incident resolved
without any public text waits, still asked for, until an approved public update closes it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.errors import AppError
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance, Incident, IncidentTicket, Ticket
from app.policy.guard.egress import InternalContentLeak, destination_is_internal, guard_egress
from app.status import repository
from app.status.lifecycle import label
from app.status.public.view import release
from app.status.publishing import audience_title
from app.sync import instances
from app.sync.writeback import (
    BASE_DELAY,
    LEASE,
    MAX_DELAY,
    PlannedWrite,
    WriteBackWorkerBase,
    retry_delay,
)
from connectors.base import Capability, ConnectorError, Visibility

__all__ = [
    "BASE_DELAY",
    "LEASE",
    "MAX_DELAY",
    "ClosingCommentWorker",
    "closing_comment",
    "closing_key",
    "retry_delay",
]

log = logging.getLogger(__name__)


def closing_key(incident_id: int, ticket_id: int) -> str:
    """The write-back idempotency key of one incident's closing comment on one ticket."""
    return f"status-closing:{incident_id}:{ticket_id}"


def closing_comment(text: str, incident: Incident, status: str, base_url: str) -> str:
    """The comment: the approved public text, then where the status page is."""
    page = f"{base_url.rstrip('/')}/status#incident-{incident.id}"
    return f"{text}\n\n— IT service status: {audience_title(incident)} ({label(status)}). {page}"


class ClosingCommentWorker(WriteBackWorkerBase):
    """Runs until `stop` is set: leases due closing comments, writes each once, records it."""

    noun = "closing comment"
    loop_label = "closing comments pass"
    owner_tag = "status-closing"
    plan_errors = (AppError, ConnectorError, LookupError)

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        box: SecretBox,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        tick: float = 2.0,
        batch: int = 20,
    ) -> None:
        super().__init__(sessionmaker, box, http, tick=tick, batch=batch)
        self.base_url = base_url

    async def _due(self, session: AsyncSession, now: datetime) -> Sequence[int]:
        due = await repository.pending_closing_comments(session, self.batch, now=now)
        return [link.id for link in due]

    async def _lease(
        self, session: AsyncSession, link_id: int, *, now: datetime, until: datetime
    ) -> bool:
        return await repository.lease_closing_comment(
            session, link_id, owner=self.owner, now=now, until=until
        )

    async def _plan(self, link_id: int) -> PlannedWrite | str:
        """What to write, or why nothing will be (a recorded skip)."""
        async with unit_of_work(self.sessionmaker) as session:
            link = await session.get(IncidentTicket, link_id)
            if link is None:
                raise LookupError(f"linked ticket {link_id} is gone")
            incident = await session.get(Incident, link.incident_id)
            resolution = await repository.resolution_update(session, link.incident_id)
            ticket = await session.get(Ticket, link.ticket_id)
            instance = await session.get(ConnectorInstance, ticket.connector_id) if ticket else None
        if incident is None or resolution is None or ticket is None or instance is None:
            raise LookupError(f"closing comment {link_id}: no approved public resolution yet")
        if (
            Capability.WRITE_PUBLIC_COMMENT
            not in instances.connector_class(instance.kind).capabilities
        ):
            return f"the {instance.kind} connector cannot write public comments"
        try:
            # The public page's own release: only a published public update's approved text.
            text = release(resolution, "public", "ticket")
            # The door toward the ticketing system, as for chat write-back: public content,
            # as a public comment, to a destination not marked internal.
            guard_egress(
                "public", "external",
                destination_is_internal("ticket", "external", marked_internal=False),
                None, may_see_ticket=True, channel="ticket",
            )  # fmt: skip
        except InternalContentLeak as exc:
            log.error("closing comment %s refused: %s", link_id, exc.reason)
            return f"egress refused: {exc.reason}"
        body = closing_comment(text, incident, resolution.to_status, self.base_url)
        return PlannedWrite(ticket.id, body, closing_key(incident.id, ticket.id), Visibility.PUBLIC)

    async def _finish(
        self,
        link_id: int,
        *,
        external_comment_id: str | None = None,
        skipped: str | None = None,
        warning: str | None = None,
    ) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            link = await session.get(IncidentTicket, link_id)
            if link is None:
                return
            link.closing_attempts += 1
            link.closing_lease_owner = link.closing_lease_expires_at = None
            link.closing_last_error = warning  # closing comments carry no files: None
            if skipped is not None:
                link.closing_skipped_reason = skipped
                log.info("closing comment %s skipped: %s", link_id, skipped)
                return
            link.closing_written_at = utcnow()
            link.closing_external_comment_id = external_comment_id

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, LookupError):  # no connector or app error is one
            return f"not_ready: {exc}"
        return super()._describe(exc)

    async def _record_failure(
        self, link_id: int, error: str, retry_after: float | None
    ) -> float | None:
        async with unit_of_work(self.sessionmaker) as session:
            link = await session.get(IncidentTicket, link_id)
            if link is None:
                return None
            link.closing_attempts += 1
            link.closing_last_error = error[:2000]
            link.closing_lease_owner = link.closing_lease_expires_at = None
            delay = retry_delay(link.closing_attempts, retry_after)
            link.closing_next_attempt_at = utcnow() + timedelta(seconds=delay)
        return delay
