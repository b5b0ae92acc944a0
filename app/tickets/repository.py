"""Queries on tickets and their events; visibility is applied here, in SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Ticket, TicketEvent, User


def visible_to(user: User) -> ColumnElement[bool]:
    """Least visibility: staff see every ticket; end users their own requests and the
    tickets marked followable (a major incident everyone may follow)."""
    if user.role.is_staff:
        return true()
    return or_(Ticket.requester_user_id == user.id, Ticket.followable.is_(True))


async def get_visible(session: AsyncSession, user: User, ticket_id: int) -> Ticket | None:
    stmt = select(Ticket).where(Ticket.id == ticket_id, visible_to(user))
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_visible(
    session: AsyncSession,
    user: User,
    *,
    connector_id: int | None,
    external_id: str | None,
    status: str | None,
    after: int | None,
    limit: int,
) -> Sequence[Ticket]:
    stmt = select(Ticket).where(visible_to(user))
    if connector_id is not None:
        stmt = stmt.where(Ticket.connector_id == connector_id)
    if external_id is not None:
        stmt = stmt.where(Ticket.external_id == external_id)
    if status is not None:
        stmt = stmt.where(Ticket.status == status)
    if after is not None:
        stmt = stmt.where(Ticket.id > after)
    return (await session.execute(stmt.order_by(Ticket.id).limit(limit))).scalars().all()


async def timeline(
    session: AsyncSession,
    ticket_id: int,
    *,
    include_internal: bool,
    after: int | None,
    limit: int,
) -> Sequence[TicketEvent]:
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
    if not include_internal:
        stmt = stmt.where(TicketEvent.visibility == "public")
    if after is not None:
        stmt = stmt.where(TicketEvent.id > after)
    # Ids follow ingestion order, which follows the order the system reported changes in.
    stmt = stmt.order_by(TicketEvent.id).limit(limit)
    return (await session.execute(stmt)).scalars().all()
