"""Queries on connector instances."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ConnectorInstance, Ticket


async def list_instances(session: AsyncSession) -> Sequence[ConnectorInstance]:
    stmt = select(ConnectorInstance).order_by(ConnectorInstance.id)
    return (await session.execute(stmt)).scalars().all()


async def ticket_counts(session: AsyncSession) -> dict[int, int]:
    stmt = select(Ticket.connector_id, func.count()).group_by(Ticket.connector_id)
    return {row[0]: row[1] for row in (await session.execute(stmt)).all()}
