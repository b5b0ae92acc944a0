"""Helpers for the policy wiring tests: tickets with people, stored events, small policies."""

from __future__ import annotations

import itertools
import textwrap
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.models import PolicyDecision, Ticket, TicketEvent, User
from app.policy.decisions.ticket_events import notify_ticket_events
from app.policy.engine.evaluator import Decision
from tests.factories import create_ticket

_seq = itertools.count(1)


def policy_yaml(rules: str, extra: str = "") -> str:
    """A policy document from an indented list of rules (and optional top-level keys)."""
    body = "rules:\n" + textwrap.indent(textwrap.dedent(rules).strip("\n"), "  ") + "\n"
    return body + textwrap.dedent(extra)


async def ticket_for(
    session: AsyncSession,
    *,
    requester: User | None = None,
    assignee: User | None = None,
    priority: str = "P3",
    status: str = "open",
) -> Ticket:
    ticket = await create_ticket(session, requester=requester, priority=priority, status=status)
    if assignee is not None:
        ticket.assignee_user_id = assignee.id
        ticket.assignee_email = assignee.email
        await session.flush()
    return ticket


async def store_event(
    session: AsyncSession,
    ticket: Ticket,
    *,
    kind: str = "ticket.commented",
    visibility: str = "public",
    body: str | None = "hello",
    actor: User | None = None,
    old: str | None = None,
    new: str | None = None,
    occurred_at: datetime | None = None,
    mentions: list[int] | None = None,
) -> TicketEvent:
    event = TicketEvent(
        connector_id=ticket.connector_id,
        ticket_id=ticket.id,
        source_id=f"policy-test:{next(_seq)}",
        kind=kind,
        visibility=visibility,
        actor_user_id=actor.id if actor else None,
        actor_name=actor.name if actor else None,
        actor_email=actor.email if actor else None,
        body=body,
        old_value=old,
        new_value=new,
        payload={"mentions": mentions} if mentions else {},
        occurred_at=occurred_at or utcnow(),
    )
    session.add(event)
    await session.flush()
    return event


async def notify(session: AsyncSession, *events: TicketEvent) -> list[Decision]:
    return await notify_ticket_events(session, list(events))


async def stored_decisions(session: AsyncSession, event: TicketEvent) -> list[PolicyDecision]:
    stmt = (
        select(PolicyDecision)
        .where(PolicyDecision.event_key == f"ticket_event:{event.id}")
        .order_by(PolicyDecision.recipient_key, PolicyDecision.channel)
    )
    return list((await session.execute(stmt)).scalars())


def outcomes(decisions: list[Decision], user: User) -> dict[str, str]:
    """channel -> outcome for one user."""
    return {d.channel: d.outcome for d in decisions if d.recipient_key == f"user:{user.id}"}
