"""Ticket events (the mirror's timeline) as policy events: built, replayed and notified.

Sync calls `notify_ticket_events` at the end of every ingested page, in the page's
transaction, so each stored `ticket.*` event has its decisions before the cursor moves.
The same builder feeds `simulate` through the registered `ticket_events` source, and
`load_ticket_event` reads one event back by its key when an approver releases it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role, Ticket, TicketEvent, User
from app.policy.decisions.notify import notify_event
from app.policy.decisions.sources import EventScope, SourcedEvent, id_in_key, register_event_source
from app.policy.engine.conditions import STATUS_VALUES
from app.policy.engine.document import EVENT_TYPES
from app.policy.engine.evaluator import Actor, Decision, PolicyEvent, TicketFacts
from app.policy.service import active_policy

EVENT_KEY_PREFIX = "ticket_event:"
_STATUS_KINDS = frozenset({"ticket.status_changed", "ticket.resolved", "ticket.reopened"})


def event_key(ticket_event_id: int) -> str:
    """The policy's key of a stored ticket event (what `GET /decisions?event_id=` takes)."""
    return f"{EVENT_KEY_PREFIX}{ticket_event_id}"


def ticket_facts(ticket: Ticket) -> TicketFacts:
    """What the policy's conditions may read of a ticket (any event about it)."""
    return TicketFacts(
        priority=ticket.priority,
        status=ticket.status,
        service=ticket.service,
        requester_id=ticket.requester_user_id,
        assignee_id=ticket.assignee_user_id,
        followable=ticket.followable,
    )


def _actor(row: TicketEvent, role: Role | None) -> Actor | None:
    if row.actor_user_id is not None and role is not None:
        return Actor(user_id=row.actor_user_id, role=role.value)
    if row.actor_user_id is None and not row.actor_name and not row.actor_email:
        return Actor(user_id=None, role="system")  # the ticketing system itself
    return None  # a person we cannot match to a user: their role is unknown, not guessed


def _mentions(payload: dict[str, object]) -> frozenset[int]:
    found = payload.get("mentions")
    if not isinstance(found, list):
        return frozenset()
    return frozenset(m for m in found if isinstance(m, int) and not isinstance(m, bool))


def build_ticket_event(
    row: TicketEvent, ticket: Ticket, actor_role: Role | None
) -> SourcedEvent | None:
    """The policy event of a stored ticket event; None for kinds the policy does not judge."""
    if row.kind not in EVENT_TYPES:
        return None  # e.g. ticket.updated (title edits): timeline only
    status_kind = row.kind in _STATUS_KINDS
    old = row.old_value if status_kind and row.old_value in STATUS_VALUES else None
    new = row.new_value if status_kind and row.new_value in STATUS_VALUES else None
    facts = ticket_facts(ticket)
    event = PolicyEvent(
        key=event_key(row.id),
        type=row.kind,
        # Anything but an explicit "public" is treated as internal: fail closed.
        visibility="public" if row.visibility == "public" else "internal",
        occurred_at=row.occurred_at,
        actor=_actor(row, actor_role),
        ticket=facts,
        old_status=old,
        new_status=new,
        body=row.body or "",
        mentions=_mentions(row.payload or {}),
    )
    subject = f"{row.kind} on ticket {ticket.external_id}: {ticket.title}"
    return SourcedEvent(
        event, EventScope(ticket_id=ticket.id, service=ticket.service, subject=subject)
    )


async def _actor_roles(session: AsyncSession, rows: Sequence[TicketEvent]) -> dict[int, Role]:
    ids = {row.actor_user_id for row in rows if row.actor_user_id is not None}
    if not ids:
        return {}
    stmt = select(User.id, User.role).where(User.id.in_(ids))
    return {uid: Role(role) for uid, role in (await session.execute(stmt)).all()}


async def notify_ticket_events(
    session: AsyncSession, events: Sequence[TicketEvent]
) -> list[Decision]:
    """Decide every policy-relevant event of an ingested page, in the page's transaction."""
    if not events:
        return []
    ticket_ids = {row.ticket_id for row in events}
    stmt = select(Ticket).where(Ticket.id.in_(ticket_ids))
    tickets = {t.id: t for t in (await session.execute(stmt)).scalars()}
    roles = await _actor_roles(session, events)
    policy = await active_policy(session)  # once per page, not once per event
    decisions: list[Decision] = []
    for row in events:
        sourced = build_ticket_event(row, tickets[row.ticket_id], roles.get(row.actor_user_id or 0))
        if sourced is not None:
            decisions += await notify_event(session, sourced.event, sourced.scope, policy=policy)
    return decisions


async def ticket_events_between(
    session: AsyncSession, since: datetime, until: datetime, limit: int
) -> list[SourcedEvent]:
    """Stored ticket events with `since <= occurred_at < until`, oldest first."""
    stmt = (
        _with_ticket_and_actor()
        .where(
            TicketEvent.occurred_at >= since,
            TicketEvent.occurred_at < until,
            TicketEvent.kind.in_(EVENT_TYPES),
        )
        .order_by(TicketEvent.occurred_at, TicketEvent.id)
        .limit(limit)
    )
    found = []
    for row, ticket, role in (await session.execute(stmt)).all():
        sourced = build_ticket_event(row, ticket, Role(role) if role is not None else None)
        if sourced is not None:
            found.append(sourced)
    return found


def _with_ticket_and_actor() -> Select[TicketEvent, Ticket, Role]:
    """Events with their ticket and their actor's role (what building a policy event needs)."""
    return (
        select(TicketEvent, Ticket, User.role)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .outerjoin(User, User.id == TicketEvent.actor_user_id)
    )


async def load_ticket_event(session: AsyncSession, key: str) -> SourcedEvent | None:
    """The policy event of `ticket_event:<id>`; None once it (or its ticket) is gone."""
    ticket_event_id = id_in_key(key, EVENT_KEY_PREFIX)
    if ticket_event_id is None:
        return None
    stmt = _with_ticket_and_actor().where(TicketEvent.id == ticket_event_id)
    found = (await session.execute(stmt)).first()
    if found is None:
        return None
    row, ticket, role = found
    return build_ticket_event(row, ticket, Role(role) if role is not None else None)


register_event_source("ticket_events", ticket_events_between)
