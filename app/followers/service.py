"""Following tickets and services. Services never commit; the caller's unit of work does.

Who may follow a ticket: staff any ticket; an end user a ticket they may see (their own
requests) or one marked followable. A denied follow looks exactly like a missing ticket.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.followers import repository
from app.followers.schemas import (
    FollowedService,
    FollowedTicket,
    FollowerOut,
    FollowersPage,
    FollowSource,
    ServiceFollowOut,
    TicketFollowOut,
)
from app.kit.errors import NotFound
from app.models import ServiceFollow, Ticket, TicketFollow, User
from app.status.service import check_service_visible
from app.tickets.repository import visible_to


def _may_follow(user: User) -> ColumnElement[bool]:
    return or_(visible_to(user), Ticket.followable.is_(True))


def _source(stored: str | None) -> FollowSource:
    # No follow row: the requester's implicit follow.
    return "requester" if stored is None else "commented" if stored == "commented" else "manual"


async def check_can_follow(session: AsyncSession, *, user: User, ticket_id: int) -> Ticket:
    """The ticket if `user` may follow it (and see its followers); NotFound otherwise."""
    stmt = select(Ticket).where(Ticket.id == ticket_id, _may_follow(user))
    ticket = (await session.execute(stmt)).scalar_one_or_none()
    if ticket is None:
        raise NotFound("ticket not found")
    return ticket


async def do_follow_ticket(session: AsyncSession, *, user: User, ticket_id: int) -> TicketFollowOut:
    """Follow a ticket (idempotent); a requester who had muted their ticket follows it again."""
    ticket = await check_can_follow(session, user=user, ticket_id=ticket_id)
    follow = await repository.get_follow(session, ticket_id=ticket_id, user_id=user.id)
    is_requester = ticket.requester_user_id == user.id
    if follow is not None and follow.muted and is_requester:
        await session.delete(follow)  # back to the implicit requester follow
        follow = None
    elif follow is not None and follow.muted:
        follow.muted = False
    elif follow is None and not is_requester:
        follow = TicketFollow(ticket_id=ticket_id, user_id=user.id, source="manual")
        session.add(follow)
    await session.flush()
    if follow is None:
        return TicketFollowOut(
            ticket_id=ticket_id, following=True, source="requester", since=ticket.opened_at
        )
    return TicketFollowOut(
        ticket_id=ticket_id, following=True, source=_source(follow.source), since=follow.created_at
    )


async def do_unfollow_ticket(session: AsyncSession, *, user: User, ticket_id: int) -> None:
    """Stop following a ticket (idempotent); a requester's opt-out is kept as a muted row."""
    ticket = await check_can_follow(session, user=user, ticket_id=ticket_id)
    follow = await repository.get_follow(session, ticket_id=ticket_id, user_id=user.id)
    if ticket.requester_user_id == user.id:
        if follow is None:
            session.add(TicketFollow(ticket_id=ticket_id, user_id=user.id, muted=True))
        else:
            follow.muted = True
    elif follow is not None:
        await session.delete(follow)
    await session.flush()


async def do_follow_as_participant(session: AsyncSession, *, ticket_id: int, user_id: int) -> None:
    """Make someone who took part (an agent who commented) a follower, unless they opted out."""
    if await repository.get_follow(session, ticket_id=ticket_id, user_id=user_id) is None:
        session.add(TicketFollow(ticket_id=ticket_id, user_id=user_id, source="commented"))
        await session.flush()


async def followers_page(
    session: AsyncSession, *, viewer: User, ticket_id: int, after: int | None, limit: int
) -> FollowersPage:
    """Followers of a ticket: everything for staff, only names (first page) for end users."""
    ticket = await check_can_follow(session, user=viewer, ticket_id=ticket_id)
    total = await repository.count_followers(session, ticket_id)
    staff = viewer.role.is_staff
    rows = await repository.list_followers(
        session, ticket_id, after=after if staff else None, limit=limit
    )
    if not staff:
        return FollowersPage(
            items=[FollowerOut(name=user.name) for user, _, _ in rows], total=total
        )
    items = [
        FollowerOut(
            name=user.name,
            user_id=user.id,
            email=user.email,
            role=user.role.value,
            source=_source(source),
            since=since or ticket.opened_at,
        )
        for user, source, since in rows
    ]
    next_after = items[-1].user_id if len(items) == limit else None
    return FollowersPage(items=items, total=total, next_after=next_after)


async def do_follow_service(session: AsyncSession, *, user: User, slug: str) -> ServiceFollowOut:
    """Follow an IT service by slug (idempotent).

    Only a service the person may see on the status page: following an internal service
    as an employee, or a slug that names nothing, is a 404 like any other hidden thing.
    """
    await check_service_visible(session, slug=slug, user=user)
    follow = await repository.get_service_follow(session, service_slug=slug, user_id=user.id)
    if follow is None:
        follow = ServiceFollow(service_slug=slug, user_id=user.id)
        session.add(follow)
        await session.flush()
    return ServiceFollowOut(service=slug, following=True, since=follow.created_at)


async def do_unfollow_service(session: AsyncSession, *, user: User, slug: str) -> None:
    """Stop following an IT service (idempotent)."""
    follow = await repository.get_service_follow(session, service_slug=slug, user_id=user.id)
    if follow is not None:
        await session.delete(follow)
        await session.flush()


async def my_follows(
    session: AsyncSession, *, user: User
) -> tuple[list[FollowedTicket], list[FollowedService]]:
    """Everything `user` follows: tickets (requested ones included) and services."""
    tickets = [
        FollowedTicket(
            ticket_id=ticket.id,
            title=ticket.title,
            status=ticket.status,
            source=_source(source),
            since=since or ticket.opened_at,
        )
        for ticket, source, since in await repository.followed_tickets(
            session, user.id, may_follow=_may_follow(user)
        )
    ]
    services = [
        FollowedService(service=f.service_slug, since=f.created_at)
        for f in await repository.followed_services(session, user.id)
    ]
    return tickets, services
