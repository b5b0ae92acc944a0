"""Reading tickets under the least-visibility rule."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import NotFound
from app.models import Ticket, TicketEvent, User
from app.tickets import repository


async def check_ticket_visible(session: AsyncSession, *, user: User, ticket_id: int) -> Ticket:
    """The ticket if `user` may see it; a denied read looks exactly like a missing one."""
    ticket = await repository.get_visible(session, user, ticket_id)
    if ticket is None:
        raise NotFound("ticket not found")
    return ticket


async def requester_name_of(session: AsyncSession, ticket: Ticket) -> str | None:
    """The requester's name as the ticketing system gave it, else the person we know."""
    if ticket.requester_name:
        return ticket.requester_name
    if ticket.requester_user_id is None:
        return None
    requester = await session.get(User, ticket.requester_user_id)
    return requester.name if requester is not None else None


async def timeline_for(
    session: AsyncSession, *, user: User, ticket_id: int, after: int | None, limit: int
) -> Sequence[TicketEvent]:
    """The ticket's timeline; internal entries only for staff."""
    await check_ticket_visible(session, user=user, ticket_id=ticket_id)
    return await repository.timeline(
        session, ticket_id, include_internal=user.role.is_staff, after=after, limit=limit
    )
