"""The audiences this domain owns, `followers` and `service_subscribers`, resolved in bulk.

The policy resolves audiences without I/O of their own: a resolver returns a SELECT of user
ids that `app.policy.decisions.audiences.resolve_recipients` runs once, however many people follow.
`register_audiences()` hands both to the policy (call it once at start-up). The async
`followers_of` / `service_subscribers_of` run the same queries for other callers.

Requesters follow their own tickets implicitly (no row; resolved here from the ticket),
unless they unfollowed it, which leaves a muted row.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.followers.repository import followers_select, service_subscribers_select
from app.policy.decisions.audiences import Resolved, register_audience
from app.policy.decisions.sources import EventScope
from app.policy.engine.evaluator import PolicyEvent


async def followers_of(session: AsyncSession, ticket_id: int) -> list[int]:
    """Ids of the active users following a ticket (its requester included unless muted)."""
    return list((await session.execute(followers_select(ticket_id))).scalars())


async def service_subscribers_of(session: AsyncSession, service_slug: str) -> list[int]:
    """Ids of the active users following an IT service."""
    return list((await session.execute(service_subscribers_select(service_slug))).scalars())


def followers_audience(_event: PolicyEvent, scope: EventScope) -> Resolved:
    """The `followers` audience of an event: the followers of its ticket."""
    if scope.ticket_id is None:
        return Resolved()
    return Resolved(users=followers_select(scope.ticket_id))


def service_subscribers_audience(event: PolicyEvent, scope: EventScope) -> Resolved:
    """The `service_subscribers` audience: followers of the IT service the event is about."""
    service = scope.service or (event.ticket.service if event.ticket is not None else None)
    if not service:
        return Resolved()
    return Resolved(users=service_subscribers_select(service))


def register_audiences() -> None:
    """Tell the policy who `followers` and `service_subscribers` are."""
    register_audience("followers", followers_audience)
    register_audience("service_subscribers", service_subscribers_audience)
