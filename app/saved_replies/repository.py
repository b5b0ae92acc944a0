"""Queries on saved replies; who sees which is applied here, in SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import SavedReply, User


def visible_to(user: User) -> ColumnElement[bool]:
    """Your own replies, personal or shared, and everyone's shared ones."""
    return or_(SavedReply.owner_user_id == user.id, SavedReply.shared.is_(True))


async def list_visible(
    session: AsyncSession, user: User, *, shared: bool | None, after: int | None, limit: int
) -> Sequence[tuple[SavedReply, str]]:
    """Replies with their owner's name, in id order after `after`."""
    stmt = (
        select(SavedReply, User.name)
        .join(User, User.id == SavedReply.owner_user_id)
        .where(visible_to(user))
    )
    if shared is not None:
        stmt = stmt.where(SavedReply.shared.is_(shared))
    if after is not None:
        stmt = stmt.where(SavedReply.id > after)
    rows = await session.execute(stmt.order_by(SavedReply.id).limit(limit))
    return [(reply, name) for reply, name in rows]


async def get_visible(
    session: AsyncSession, user: User, reply_id: int
) -> tuple[SavedReply, str] | None:
    stmt = (
        select(SavedReply, User.name)
        .join(User, User.id == SavedReply.owner_user_id)
        .where(SavedReply.id == reply_id, visible_to(user))
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1])


async def title_taken(
    session: AsyncSession, *, owner_user_id: int, title: str, other_than: int | None
) -> bool:
    stmt = select(SavedReply.id).where(
        SavedReply.owner_user_id == owner_user_id, SavedReply.title == title
    )
    if other_than is not None:
        stmt = stmt.where(SavedReply.id != other_than)
    return (await session.scalar(stmt.limit(1))) is not None
