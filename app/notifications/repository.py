"""Queries on preferences, destinations and the inbox."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.models import InboxItem, NotificationDestination, NotificationPreference

# Drivers cap the bound parameters of one statement; large id lists go in slices.
CHUNK = 5000


def chunks(ids: Collection[int]) -> list[list[int]]:
    ordered = sorted(set(ids))
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]


async def preferences_of(
    session: AsyncSession, user_ids: Collection[int]
) -> dict[int, NotificationPreference]:
    found: dict[int, NotificationPreference] = {}
    for chunk in chunks(user_ids):
        stmt = select(NotificationPreference).where(NotificationPreference.user_id.in_(chunk))
        found.update((p.user_id, p) for p in (await session.execute(stmt)).scalars())
    return found


async def destinations_of(
    session: AsyncSession, user_ids: Collection[int], *, enabled_only: bool
) -> list[NotificationDestination]:
    found: list[NotificationDestination] = []
    for chunk in chunks(user_ids):
        stmt = select(NotificationDestination).where(NotificationDestination.user_id.in_(chunk))
        if enabled_only:
            stmt = stmt.where(NotificationDestination.enabled.is_(True))
        found += (await session.execute(stmt.order_by(NotificationDestination.id))).scalars()
    return found


async def inbox_page(
    session: AsyncSession, user_id: int, *, before: int | None, limit: int, unread_only: bool
) -> Sequence[InboxItem]:
    stmt = select(InboxItem).where(InboxItem.user_id == user_id)
    if before is not None:
        stmt = stmt.where(InboxItem.id < before)
    if unread_only:
        stmt = stmt.where(InboxItem.read_at.is_(None))
    return (await session.execute(stmt.order_by(InboxItem.id.desc()).limit(limit))).scalars().all()


async def unread_count(session: AsyncSession, user_id: int) -> int:
    stmt = select(func.count()).where(InboxItem.user_id == user_id, InboxItem.read_at.is_(None))
    return int((await session.execute(stmt)).scalar_one())


async def get_inbox_item(session: AsyncSession, *, user_id: int, item_id: int) -> InboxItem | None:
    stmt = select(InboxItem).where(InboxItem.id == item_id, InboxItem.user_id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def mark_all_read(session: AsyncSession, user_id: int) -> int:
    stmt = (
        update(InboxItem)
        .where(InboxItem.user_id == user_id, InboxItem.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(await session.execute(stmt), "rowcount", 0) or 0)
