"""Store one page of normalized changes: tickets upserted, events stored once, cursor moved.

All of it happens in the caller's transaction, so a page and its cursor commit together:
a crash replays the page, and the unique source ids make the replay a no-op.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.repository import users_by_emails
from app.db import after_commit
from app.kit.clock import utcnow
from app.models import ConnectorInstance, ConnectorWrite, Ticket, TicketEvent, User
from app.policy.decisions.ticket_events import notify_ticket_events
from app.realtime.bus import Bus
from connectors.base import IDEMPOTENCY_KEY, ChangePage, Person, TicketChange, TicketSnapshot


@dataclass
class IngestResult:
    tickets_created: int = 0
    tickets_updated: int = 0
    events: list[TicketEvent] = field(default_factory=list)
    duplicates: int = 0
    own_writes: int = 0
    skipped: list[str] = field(default_factory=list)


# A write-back is recorded before the remote call with this placeholder id (see
# `writeback.py`), so a sync that sees the comment first still knows it is ours.
PENDING_WRITE = "pending:"
# Connectors carry the idempotency key of a comment we wrote in its payload, in the form
# their marker line uses: the key itself when plain, else a digest of it.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
MAX_SKIPPED_SHOWN = 10


def marker_forms(idempotency_key: str) -> set[str]:
    """The forms a connector may report our idempotency key in."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return {idempotency_key, digest} if _PLAIN_KEY.fullmatch(idempotency_key) else {digest}


def _emails(changes: list[TicketChange]) -> set[str]:
    people: list[Person | None] = []
    for change in changes:
        people += [change.actor, change.ticket.requester, change.ticket.assignee]
    return {p.email.lower() for p in people if p is not None and p.email}


def _user_id(person: Person | None, users: dict[str, User]) -> int | None:
    if person is None or not person.email:
        return None
    user = users.get(person.email.lower())
    return None if user is None else user.id


def _apply_snapshot(ticket: Ticket, snap: TicketSnapshot, users: dict[str, User]) -> None:
    ticket.title = snap.title[:500]
    ticket.description = snap.description
    ticket.status = snap.status
    ticket.raw_status = snap.raw_status
    ticket.priority = snap.priority
    ticket.raw_priority = snap.raw_priority
    ticket.service = snap.service
    ticket.url = snap.url
    ticket.requester_name = snap.requester.name if snap.requester else None
    ticket.requester_email = snap.requester.email if snap.requester else None
    ticket.requester_user_id = _user_id(snap.requester, users)
    ticket.assignee_name = snap.assignee.name if snap.assignee else None
    ticket.assignee_email = snap.assignee.email if snap.assignee else None
    ticket.assignee_user_id = _user_id(snap.assignee, users)
    ticket.opened_at = snap.created_at
    ticket.external_updated_at = snap.updated_at


async def _upsert_tickets(
    session: AsyncSession,
    instance: ConnectorInstance,
    page: ChangePage,
    users: dict[str, User],
    result: IngestResult,
) -> dict[str, Ticket]:
    latest: dict[str, TicketSnapshot] = {}
    for change in page.changes:  # changes are in order: the last snapshot wins
        latest[change.ticket.external_id] = change.ticket
    stmt = select(Ticket).where(Ticket.connector_id == instance.id, Ticket.external_id.in_(latest))
    tickets = {t.external_id: t for t in (await session.execute(stmt)).scalars()}
    for external_id, snap in latest.items():
        ticket = tickets.get(external_id)
        if ticket is None:
            ticket = Ticket(connector_id=instance.id, external_id=external_id)
            _apply_snapshot(ticket, snap, users)
            session.add(ticket)
            tickets[external_id] = ticket
            result.tickets_created += 1
        elif snap.updated_at >= ticket.external_updated_at:  # never go back in time
            _apply_snapshot(ticket, snap, users)
            result.tickets_updated += 1
    await session.flush()
    return tickets


async def ingest_page(
    session: AsyncSession, instance: ConnectorInstance, page: ChangePage
) -> IngestResult:
    """Store what is new in `page` and move the instance's cursor past it."""
    result = IngestResult()
    users = await users_by_emails(session, _emails(page.changes))
    tickets = await _upsert_tickets(session, instance, page, users, result)
    source_ids = [c.source_id for c in page.changes]
    seen = set(
        (
            await session.execute(
                select(TicketEvent.source_id).where(
                    TicketEvent.connector_id == instance.id, TicketEvent.source_id.in_(source_ids)
                )
            )
        ).scalars()
    )
    ours, our_keys = await _own_writes(session, instance, page)
    for change in page.changes:
        if change.source_id in seen:
            result.duplicates += 1
            continue
        seen.add(change.source_id)
        key = change.payload.get(IDEMPOTENCY_KEY)
        if (change.external_comment_id and change.external_comment_id in ours) or (
            isinstance(key, str) and key in our_keys
        ):
            # Our own write-back coming home: the conversation already has it.
            result.own_writes += 1
            continue
        event = TicketEvent(
            connector_id=instance.id,
            ticket_id=tickets[change.ticket.external_id].id,
            source_id=change.source_id,
            kind=change.kind.value,
            visibility=change.visibility.value,
            actor_user_id=_user_id(change.actor, users),
            actor_name=change.actor.name if change.actor else None,
            actor_email=change.actor.email if change.actor else None,
            body=change.body,
            old_value=change.old_value,
            new_value=change.new_value,
            external_comment_id=change.external_comment_id,
            payload=dict(change.payload),
            occurred_at=change.occurred_at,
        )
        session.add(event)
        result.events.append(event)
    instance.cursor = page.cursor
    instance.changes_ingested += len(result.events)
    _record_skipped(instance, page.notes, result)
    await session.flush()
    await notify_ticket_events(session, result.events)
    return result


async def _own_writes(
    session: AsyncSession, instance: ConnectorInstance, page: ChangePage
) -> tuple[set[str], set[str]]:
    """Comment ids we wrote, and marker keys of writes still in flight, among the page's."""
    comment_ids = [c.external_comment_id for c in page.changes if c.external_comment_id]
    ids = set(
        (
            await session.execute(
                select(ConnectorWrite.external_comment_id).where(
                    ConnectorWrite.connector_id == instance.id,
                    ConnectorWrite.external_comment_id.in_(comment_ids),
                )
            )
        ).scalars()
    )
    keys: set[str] = set()
    if any(IDEMPOTENCY_KEY in c.payload for c in page.changes):
        pending = await session.execute(
            select(ConnectorWrite.idempotency_key).where(
                ConnectorWrite.connector_id == instance.id,
                ConnectorWrite.external_comment_id.startswith(PENDING_WRITE),
            )
        )
        for idempotency_key in pending.scalars():
            keys |= marker_forms(idempotency_key)
    return ids, keys


def _record_skipped(instance: ConnectorInstance, notes: list[str], result: IngestResult) -> None:
    """Count what the connector skipped as malformed and keep the latest lines for health."""
    if not notes:
        return
    result.skipped = list(notes)
    instance.skipped_items += len(notes)
    instance.last_skipped = "\n".join(notes[-MAX_SKIPPED_SHOWN:])[:4000]
    instance.last_skipped_at = utcnow()


def publish_ingested(session: AsyncSession, bus: Bus, result: IngestResult) -> None:
    """Tell live subscribers after commit: small envelopes, visibility included."""
    envelopes = [
        (
            f"ticket:{event.ticket_id}",
            {
                "type": "ticket_event",
                "ticket_id": event.ticket_id,
                "event_id": event.id,
                "kind": event.kind,
                "visibility": event.visibility,
            },
        )
        for event in result.events
    ]
    if not envelopes:
        return

    async def _publish() -> None:
        for channel, envelope in envelopes:
            await bus.publish(channel, envelope)
        await bus.publish("tickets", {"type": "tickets_changed", "count": len(envelopes)})

    after_commit(session, _publish)
