"""Queries behind the metrics: tickets in a range and their timelines, in bulk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.metrics.sla import Step
from app.models import ChatMessage, Role, Ticket, TicketEvent, User
from app.models.metrics import SlaConfig

# Other domains (chat) add their timeline entries here: ticket ids -> steps per ticket.
StepSource = Callable[[AsyncSession, Sequence[Ticket]], Awaitable[dict[int, list[Step]]]]
STEP_SOURCES: list[StepSource] = []


async def latest_config(session: AsyncSession) -> SlaConfig | None:
    stmt = select(SlaConfig).order_by(SlaConfig.id.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def tickets_opened(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    priority: str | None,
    connector_id: int | None,
) -> Sequence[Ticket]:
    stmt = select(Ticket).where(Ticket.opened_at >= since, Ticket.opened_at < until)
    if priority is not None:
        stmt = stmt.where(Ticket.priority == priority)
    if connector_id is not None:
        stmt = stmt.where(Ticket.connector_id == connector_id)
    return (await session.execute(stmt.order_by(Ticket.opened_at, Ticket.id))).scalars().all()


def _by_requester(event: TicketEvent, ticket: Ticket, roles: dict[int, Role]) -> bool:
    """Who acted. Unmatched people who are not the requester count as the desk's staff."""
    if event.actor_user_id is not None:
        if event.actor_user_id == ticket.requester_user_id:
            return True
        return not roles.get(event.actor_user_id, Role.AGENT).is_staff
    if event.actor_email and ticket.requester_email:
        return event.actor_email.casefold() == ticket.requester_email.casefold()
    return bool(event.actor_name) and event.actor_name == ticket.requester_name


async def ticket_steps(session: AsyncSession, tickets: Sequence[Ticket]) -> dict[int, list[Step]]:
    """Every ticket's timeline reduced to SLA steps, in two queries plus the sources."""
    by_id = {t.id: t for t in tickets}
    steps: dict[int, list[Step]] = defaultdict(list)
    if not by_id:
        return steps
    events = (
        (await session.execute(select(TicketEvent).where(TicketEvent.ticket_id.in_(by_id))))
        .scalars()
        .all()
    )
    actor_ids = {e.actor_user_id for e in events if e.actor_user_id is not None}
    roles: dict[int, Role] = {}
    if actor_ids:
        rows = await session.execute(select(User.id, User.role).where(User.id.in_(actor_ids)))
        roles = {row[0]: row[1] for row in rows}
    for event in events:
        ticket = by_id[event.ticket_id]
        status_change = event.kind in (
            "ticket.status_changed",
            "ticket.resolved",
            "ticket.reopened",
        )
        steps[event.ticket_id].append(
            Step(
                at=event.occurred_at,
                kind=event.kind,
                public=event.visibility == "public",
                by_requester=_by_requester(event, ticket, roles),
                new_status=event.new_value if status_change else None,
            )
        )
    for source in STEP_SOURCES:
        for ticket_id, extra in (await source(session, tickets)).items():
            steps[ticket_id].extend(extra)
    return steps


async def chat_steps(session: AsyncSession, tickets: Sequence[Ticket]) -> dict[int, list[Step]]:
    """Public chat messages as SLA steps (a public staff reply is a first response)."""
    by_id = {t.id: t for t in tickets}
    steps: dict[int, list[Step]] = defaultdict(list)
    if not by_id:
        return steps
    rows = await session.execute(
        select(ChatMessage.ticket_id, ChatMessage.author_user_id, ChatMessage.created_at, User.role)
        .join(User, User.id == ChatMessage.author_user_id)
        .where(
            ChatMessage.ticket_id.in_(by_id),
            ChatMessage.visibility == "public",
            ChatMessage.deleted_at.is_(None),
        )
    )
    for ticket_id, author_id, created_at, role in rows.all():
        ticket = by_id[ticket_id]
        by_requester = author_id == ticket.requester_user_id or not Role(role).is_staff
        steps[ticket_id].append(
            Step(at=created_at, kind="chat.message", public=True, by_requester=by_requester)
        )
    return steps


STEP_SOURCES.append(chat_steps)
