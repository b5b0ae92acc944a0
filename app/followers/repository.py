"""Queries on follows. Requesters follow their own tickets without a row (unless muted)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ServiceFollow, Ticket, TicketFollow, User


def followers_select(ticket_id: int) -> Select[int]:
    """Ids of a ticket's followers: explicit follows, plus the requester unless they muted it."""
    follows = select(TicketFollow.user_id).where(
        TicketFollow.ticket_id == ticket_id, TicketFollow.muted.is_(False)
    )
    muted = select(TicketFollow.user_id).where(
        TicketFollow.ticket_id == ticket_id, TicketFollow.muted.is_(True)
    )
    requester = select(Ticket.requester_user_id).where(Ticket.id == ticket_id)
    return select(User.id).where(
        User.is_active.is_(True),
        or_(User.id.in_(follows), and_(User.id.in_(requester), User.id.not_in(muted))),
    )


def service_subscribers_select(service_slug: str) -> Select[int]:
    """Ids of the active users following an IT service."""
    follows = select(ServiceFollow.user_id).where(ServiceFollow.service_slug == service_slug)
    return select(User.id).where(User.is_active.is_(True), User.id.in_(follows))


async def get_follow(session: AsyncSession, *, ticket_id: int, user_id: int) -> TicketFollow | None:
    stmt = select(TicketFollow).where(
        TicketFollow.ticket_id == ticket_id, TicketFollow.user_id == user_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_followers(
    session: AsyncSession, ticket_id: int, *, after: int | None, limit: int
) -> Sequence[tuple[User, str | None, datetime | None]]:
    """Followers ordered by user id, with the follow's source and date (None: requester)."""
    stmt = (
        select(User, TicketFollow.source, TicketFollow.created_at)
        .outerjoin(
            TicketFollow,
            and_(TicketFollow.ticket_id == ticket_id, TicketFollow.user_id == User.id),
        )
        .where(User.id.in_(followers_select(ticket_id)))
        .order_by(User.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(User.id > after)
    return [(user, source, since) for user, source, since in (await session.execute(stmt)).all()]


async def count_followers(session: AsyncSession, ticket_id: int) -> int:
    stmt = select(func.count()).select_from(followers_select(ticket_id).subquery())
    return int((await session.execute(stmt)).scalar_one())


def _followed_by(user_id: int) -> ColumnElement[bool]:
    # Requested or explicitly followed, and not muted.
    return and_(
        or_(Ticket.requester_user_id == user_id, TicketFollow.id.is_not(None)),
        or_(TicketFollow.muted.is_(None), TicketFollow.muted.is_(False)),
    )


async def followed_tickets(
    session: AsyncSession, user_id: int, *, may_follow: ColumnElement[bool]
) -> Sequence[tuple[Ticket, str | None, datetime | None]]:
    """Tickets a user follows and may still follow, newest first, with source and date."""
    stmt = (
        select(Ticket, TicketFollow.source, TicketFollow.created_at)
        .outerjoin(
            TicketFollow,
            and_(TicketFollow.ticket_id == Ticket.id, TicketFollow.user_id == user_id),
        )
        .where(_followed_by(user_id), may_follow)
        .order_by(Ticket.id.desc())
    )
    return [(t, source, since) for t, source, since in (await session.execute(stmt)).all()]


async def get_service_follow(
    session: AsyncSession, *, service_slug: str, user_id: int
) -> ServiceFollow | None:
    stmt = select(ServiceFollow).where(
        ServiceFollow.service_slug == service_slug, ServiceFollow.user_id == user_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def followed_services(session: AsyncSession, user_id: int) -> Sequence[ServiceFollow]:
    stmt = (
        select(ServiceFollow)
        .where(ServiceFollow.user_id == user_id)
        .order_by(ServiceFollow.service_slug)
    )
    return (await session.execute(stmt)).scalars().all()
