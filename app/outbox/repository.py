"""Queries on the outbox: insert once, claim with a lease, settle, and the admin's views.

Claiming is one statement on both databases: an UPDATE of the due rows' lease whose row
selection is `FOR UPDATE SKIP LOCKED` on PostgreSQL (several workers never wait for or
take each other's rows) and a plain sub-select on SQLite (one writer at a time anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Delivery, DeliveryAttempt
from app.models.base import Base

# A literal (not a bound parameter) so both databases use the partial "due" index.
PENDING: ColumnElement[bool] = Delivery.status == literal_column("'pending'")
# Not delivered yet: pending, or a dead letter an admin may retry. Literals, for the same
# reason, matching the partial index `ix_deliveries_in_flight_event_key`.
IN_FLIGHT: ColumnElement[bool] = Delivery.status.in_(
    [literal_column("'pending'"), literal_column("'dead'")]
)


def undelivered(event_key: ColumnElement[str]) -> ColumnElement[bool]:
    """True for an event that still has an outbox row of its own to deliver (or retry)."""
    return exists().where(Delivery.event_key == event_key, IN_FLIGHT)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


async def insert_ignoring_conflicts(
    session: AsyncSession, model: type[Base], rows: Sequence[dict[str, Any]], *, unique: str
) -> list[tuple[int, str]]:
    """Insert rows, skipping those whose `unique` column exists; (id, unique) of new rows."""
    if not rows:
        return []
    table = _table(model)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .on_conflict_do_nothing(index_elements=[unique])
        .returning(table.c.id, table.c[unique])
    )
    result = await session.execute(stmt, list(rows))
    return [(int(found.id), str(found[1])) for found in result.all()]


def _lease_free(now: datetime) -> ColumnElement[bool]:
    return or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at < now)


async def claim_due(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    channels: Sequence[str] | None = None,
) -> list[int]:
    """Lease up to `limit` due rows (of `channels`) to `owner`, counting the attempt; ids."""
    due = (
        select(Delivery.id)
        .where(PENDING, Delivery.deliver_at <= now, _lease_free(now))
        .order_by(Delivery.deliver_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if channels is not None:
        due = due.where(Delivery.channel.in_(channels))
    stmt = (
        update(Delivery)
        .where(Delivery.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_expires_at=lease_until, attempts=Delivery.attempts + 1)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return sorted((await session.execute(stmt)).scalars())


async def extend_lease(
    session: AsyncSession, ids: Sequence[int], *, owner: str, lease_until: datetime
) -> None:
    """Keep rows leased while their sends are still running."""
    stmt = (
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.lease_owner == owner, PENDING)
        .values(lease_expires_at=lease_until)
        .execution_options(synchronize_session=False)
    )
    await session.execute(stmt)


async def leased_rows(session: AsyncSession, ids: Sequence[int]) -> Sequence[Delivery]:
    stmt = select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)
    return (await session.execute(stmt)).scalars().all()


@dataclass(frozen=True, slots=True)
class Settlement:
    """What became of one claimed row after its attempt."""

    delivery_id: int
    attempt: int
    outcome: str  # sent | failed | refused | skipped
    detail: str
    status: str  # the row's new status: sent | pending (retry) | dead | skipped
    started_at: datetime
    retry_at: datetime | None = None


async def settle(
    session: AsyncSession, settlements: Sequence[Settlement], *, owner: str, now: datetime
) -> None:
    """Record every attempt and move each row on, only if this worker still holds its lease."""
    if not settlements:
        return
    table = _table(Delivery)
    await session.execute(
        _table(DeliveryAttempt).insert(),
        [
            {
                "delivery_id": s.delivery_id, "number": s.attempt, "worker": owner,
                "outcome": s.outcome, "detail": s.detail or None, "started_at": s.started_at,
                "finished_at": now,
            }
            for s in settlements
        ],
    )  # fmt: skip
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.lease_owner == owner)
        .values(
            status=bindparam("b_status"),
            last_error=bindparam("b_error"),
            deliver_at=func.coalesce(bindparam("b_retry_at", type_=table.c.deliver_at.type),
                                     table.c.deliver_at),
            sent_at=bindparam("b_sent_at", type_=table.c.sent_at.type),
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )  # fmt: skip
    await session.execute(
        stmt,
        [
            {
                "b_id": s.delivery_id,
                "b_status": s.status,
                "b_error": None if s.status == "sent" else s.detail or None,
                "b_retry_at": s.retry_at,
                "b_sent_at": now if s.status == "sent" else None,
            }
            for s in settlements
        ],
    )


async def list_by_status(
    session: AsyncSession, *, status: str | None, after: int | None, limit: int
) -> Sequence[Delivery]:
    stmt = select(Delivery)
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    if after is not None:
        stmt = stmt.where(Delivery.id > after)
    return (await session.execute(stmt.order_by(Delivery.id).limit(limit))).scalars().all()


async def attempts_of(session: AsyncSession, delivery_id: int) -> Sequence[DeliveryAttempt]:
    stmt = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == delivery_id)
        .order_by(DeliveryAttempt.id)
    )
    return (await session.execute(stmt)).scalars().all()
