"""One owner per connector instance across processes: a lease row, renewed with each page.

The lease is a pair of columns on the instance (`lease_owner`, `lease_expires_at`), taken
with one conditional UPDATE, so it works the same on PostgreSQL and SQLite. A sync renews
it in the transaction that commits each page (`hold_lease`), which also fences a worker
whose lease ran out: its page is rolled back instead of being stored next to the new
owner's.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.clock import utcnow
from app.models import ConnectorInstance

LEASE = timedelta(seconds=120)


class LeaseLost(Exception):
    """Another worker owns the instance now (this one was too slow or presumed dead)."""


async def acquire_lease(
    sessionmaker: async_sessionmaker[AsyncSession],
    instance_id: int,
    owner: str,
    lease: timedelta = LEASE,
) -> bool:
    """Atomically take (or renew) the instance's lease; False if another worker holds it."""
    now = utcnow()
    async with unit_of_work(sessionmaker) as session:
        result = await session.execute(
            update(ConnectorInstance)
            .where(
                ConnectorInstance.id == instance_id,
                or_(
                    ConnectorInstance.lease_owner.is_(None),
                    ConnectorInstance.lease_owner == owner,
                    ConnectorInstance.lease_expires_at < now,
                ),
            )
            .values(lease_owner=owner, lease_expires_at=now + lease)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


async def hold_lease(
    session: AsyncSession, instance_id: int, owner: str, lease: timedelta = LEASE
) -> None:
    """Renew the lease inside the caller's transaction, or raise `LeaseLost`.

    Run first in a page's transaction: on PostgreSQL the UPDATE locks the row until the
    page commits, so a competing `acquire_lease` waits and then sees a fresh lease.
    """
    result = await session.execute(
        update(ConnectorInstance)
        .where(ConnectorInstance.id == instance_id, ConnectorInstance.lease_owner == owner)
        .values(lease_expires_at=utcnow() + lease)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise LeaseLost(f"connector {instance_id}: another worker took over the sync")


async def release_lease(
    sessionmaker: async_sessionmaker[AsyncSession], instance_id: int, owner: str
) -> None:
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(ConnectorInstance)
            .where(ConnectorInstance.id == instance_id, ConnectorInstance.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
