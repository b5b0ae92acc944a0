"""Closing comments: when an incident is resolved, its linked tickets hear it, once.

Resolving an incident records the intent on every linked ticket (`closing_requested_at`,
in the resolving transaction: `repository.request_closing_comments`). This worker carries
it out, outside any request, like the chat write-back (`app.chat.writeback`): it leases a
due link, writes a *public* comment through the ticket's connector with
`app.sync.writeback.do_write_back` under the key `status-closing:<incident>:<ticket>`, and
stamps `closing_written_at`. The text is the incident's approved public resolution text
(`repository.resolution_update`), released exactly as the public page releases it and
passed through the egress guard toward the ticketing system, as chat write-back does.

Nothing is lost: a failure is recorded (`closing_last_error`, `closing_attempts`) and
retried with backoff for ever (at most hourly). Nothing is written twice: the write is
recorded under its key before the remote call, a retry with the key finds it, and a
worker that dies after writing leaves a completed record the next one reuses. A connector
that cannot write public comments is a recorded skip. A ticket of an incident resolved
without any public text waits, still asked for, until an approved public update closes it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.errors import AppError
from app.kit.polling import poll_until_stopped
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance, Incident, IncidentTicket, Ticket
from app.policy.egress import InternalContentLeak, destination_is_internal, guard_egress
from app.status import repository
from app.status.lifecycle import label
from app.status.publishing import audience_title
from app.status.view import release
from app.sync import instances
from app.sync.lease import worker_identity
from app.sync.writeback import do_write_back
from connectors.base import Capability, ConnectorError, NotSupported, RateLimited, Visibility

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=120)
BASE_DELAY = 5.0
MAX_DELAY = 3600.0  # retried for ever, at most hourly: a closing comment is never dropped


def closing_key(incident_id: int, ticket_id: int) -> str:
    """The write-back idempotency key of one incident's closing comment on one ticket."""
    return f"status-closing:{incident_id}:{ticket_id}"


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential with jitter, capped hourly, never sooner than the system asked."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** min(attempts, 12))
    return max(random.uniform(ceiling / 2, ceiling), retry_after or 0.0)  # noqa: S311


def closing_comment(text: str, incident: Incident, status: str, base_url: str) -> str:
    """The comment: the approved public text, then where the status page is."""
    page = f"{base_url.rstrip('/')}/status#incident-{incident.id}"
    return f"{text}\n\n— IT service status: {audience_title(incident)} ({label(status)}). {page}"


@dataclass(frozen=True)
class _Write:
    ticket_id: int
    body: str
    key: str


class ClosingCommentWorker:
    """Runs until `stop` is set: leases due closing comments, writes each once, records it."""

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
        self.sessionmaker = sessionmaker
        self.box = box
        self.http = http
        self.base_url = base_url
        self.tick = tick
        self.batch = batch
        self.owner = f"{worker_identity()}:status-closing"

    async def run(self, stop: asyncio.Event) -> None:
        await poll_until_stopped(
            stop, self.run_once, tick=self.tick, full=self.batch, what="closing comments pass"
        )

    async def run_once(self) -> int:
        """One pass over what is due now; how many closing comments it handled."""
        claimed = await self._claim()
        for link_id in claimed:
            await self._write_one(link_id)
        return len(claimed)

    async def _claim(self) -> list[int]:
        now = utcnow()
        async with unit_of_work(self.sessionmaker) as session:
            due = await repository.pending_closing_comments(session, self.batch, now=now)
            claimed = []
            for link in due:
                if await repository.lease_closing_comment(
                    session, link.id, owner=self.owner, now=now, until=now + LEASE
                ):
                    claimed.append(link.id)
            return claimed

    async def _write_one(self, link_id: int) -> None:
        try:
            plan = await self._plan(link_id)
        except (AppError, ConnectorError, LookupError) as exc:
            await self._failed(link_id, exc)
            return
        if isinstance(plan, str):
            await self._finish(link_id, skipped=plan)
            return
        try:
            # Recorded before the remote call, completed after: see app/sync/writeback.py.
            written = await do_write_back(
                self.sessionmaker,
                box=self.box,
                http=self.http,
                ticket_id=plan.ticket_id,
                body=plan.body,
                idempotency_key=plan.key,
                visibility=Visibility.PUBLIC,
            )
        except NotSupported as exc:
            await self._finish(link_id, skipped=exc.message)
            return
        except (AppError, ConnectorError) as exc:
            await self._failed(link_id, exc)
            return
        except Exception as exc:
            log.exception("closing comment %s crashed", link_id)
            await self._failed(link_id, exc)
            return
        await self._finish(link_id, external_comment_id=written.external_comment_id)

    async def _plan(self, link_id: int) -> _Write | str:
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
        return _Write(ticket.id, body, closing_key(incident.id, ticket.id))

    async def _finish(
        self, link_id: int, *, external_comment_id: str | None = None, skipped: str | None = None
    ) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            link = await session.get(IncidentTicket, link_id)
            if link is None:
                return
            link.closing_attempts += 1
            link.closing_lease_owner = link.closing_lease_expires_at = None
            link.closing_last_error = None
            if skipped is not None:
                link.closing_skipped_reason = skipped
                log.info("closing comment %s skipped: %s", link_id, skipped)
                return
            link.closing_written_at = utcnow()
            link.closing_external_comment_id = external_comment_id

    async def _failed(self, link_id: int, exc: Exception) -> None:
        if isinstance(exc, ConnectorError | AppError):
            error = f"{exc.code}: {exc.message}"
        elif isinstance(exc, LookupError):
            error = f"not_ready: {exc}"
        else:
            error = f"internal_error: {type(exc).__name__}"
        retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        async with unit_of_work(self.sessionmaker) as session:
            link = await session.get(IncidentTicket, link_id)
            if link is None:
                return
            link.closing_attempts += 1
            link.closing_last_error = error[:2000]
            link.closing_lease_owner = link.closing_lease_expires_at = None
            delay = retry_delay(link.closing_attempts, retry_after)
            link.closing_next_attempt_at = utcnow() + timedelta(seconds=delay)
        log.warning("closing comment %s failed (%s); retrying in %.0f s", link_id, error, delay)
