"""Queries on policy versions, decisions, approval requests and approvers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    delete,
    exists,
    func,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.dml import Insert

from app.models import (
    ApprovalAudit,
    ApprovalRequest,
    Approver,
    PolicyDecision,
    PolicyVersion,
    User,
)


def _insert_ignoring_duplicates(session: AsyncSession, table: Table, keys: list[str]) -> Insert:
    # INSERT ... ON CONFLICT DO NOTHING: a replayed event, or two workers racing on the
    # same one, leaves the first row standing instead of failing the transaction.
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
    raise NotImplementedError(f"no idempotent insert for {dialect}")


# --- versions ------------------------------------------------------------------------


async def active_version(session: AsyncSession) -> PolicyVersion | None:
    stmt = select(PolicyVersion).where(PolicyVersion.is_active.is_(True))
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_active_version(session: AsyncSession) -> PolicyVersion | None:
    """The active version, locked until commit (PostgreSQL) so two saves queue up."""
    stmt = select(PolicyVersion).where(PolicyVersion.is_active.is_(True)).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def highest_version_number(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(PolicyVersion.version))) or 0)


async def deactivate_all(session: AsyncSession) -> None:
    stmt = update(PolicyVersion).where(PolicyVersion.is_active.is_(True)).values(is_active=False)
    await session.execute(stmt)


async def list_versions(
    session: AsyncSession, *, after: int | None, limit: int
) -> Sequence[PolicyVersion]:
    stmt = select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(limit)
    if after is not None:
        stmt = stmt.where(PolicyVersion.version < after)
    return (await session.execute(stmt)).scalars().all()


async def version_by_number(session: AsyncSession, number: int) -> PolicyVersion | None:
    stmt = select(PolicyVersion).where(PolicyVersion.version == number)
    return (await session.execute(stmt)).scalar_one_or_none()


async def versions_by_ids(session: AsyncSession, ids: set[int]) -> dict[int, PolicyVersion]:
    if not ids:
        return {}
    stmt = select(PolicyVersion).where(PolicyVersion.id.in_(ids))
    return {v.id: v for v in (await session.execute(stmt)).scalars()}


# --- decisions -----------------------------------------------------------------------


async def insert_decisions(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Store decision rows; those already stored for the same key are left as they were."""
    if not rows:
        return
    table = PolicyDecision.__table__
    assert isinstance(table, Table)
    stmt = _insert_ignoring_duplicates(session, table, ["event_key", "recipient_key", "channel"])
    await session.execute(stmt, rows)


async def decisions_for_event(session: AsyncSession, event_key: str) -> Sequence[PolicyDecision]:
    stmt = (
        select(PolicyDecision)
        .where(PolicyDecision.event_key == event_key)
        .order_by(PolicyDecision.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def event_has_decisions(session: AsyncSession, event_key: str) -> bool:
    stmt = select(PolicyDecision.id).where(PolicyDecision.event_key == event_key).limit(1)
    return (await session.scalar(stmt)) is not None


async def list_decisions(
    session: AsyncSession,
    *,
    event_key: str | None,
    recipient_user_id: int | None,
    after: int | None,
    limit: int,
) -> Sequence[PolicyDecision]:
    stmt = select(PolicyDecision).order_by(PolicyDecision.id).limit(limit)
    if event_key is not None:
        stmt = stmt.where(PolicyDecision.event_key == event_key)
    if recipient_user_id is not None:
        stmt = stmt.where(PolicyDecision.recipient_user_id == recipient_user_id)
    if after is not None:
        stmt = stmt.where(PolicyDecision.id > after)
    return (await session.execute(stmt)).scalars().all()


async def get_decision(session: AsyncSession, decision_id: int) -> PolicyDecision | None:
    return await session.get(PolicyDecision, decision_id)


async def find_decision(
    session: AsyncSession, *, event_key: str, recipient_key: str, channel: str
) -> PolicyDecision | None:
    stmt = select(PolicyDecision).where(
        PolicyDecision.event_key == event_key,
        PolicyDecision.recipient_key == recipient_key,
        PolicyDecision.channel == channel,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# --- retention -----------------------------------------------------------------------

# Given the decision's event key, true while pending work still needs that event's
# decisions (see app/policy/retention.py).
StillNeeded = Callable[[ColumnElement[str]], ColumnElement[bool]]


def approval_pending(event_key: ColumnElement[str]) -> ColumnElement[bool]:
    """The event waits for an approver: its held decisions are what the approver judges."""
    return exists().where(
        ApprovalRequest.event_key == event_key,
        ApprovalRequest.status == literal_column("'pending'"),
    )


async def expired_decisions(
    session: AsyncSession,
    *,
    cutoff: datetime,
    still_needed: Sequence[StillNeeded],
    after: tuple[datetime, int] | None,
    limit: int,
) -> Sequence[tuple[int, datetime]]:
    """(id, created_at) of the oldest decisions made before `cutoff` that nothing needs.

    In (created_at, id) order from `after` on, so a pass never reads the kept ones twice.
    """
    stmt = (
        select(PolicyDecision.id, PolicyDecision.created_at)
        .where(PolicyDecision.created_at < cutoff)
        .where(*[~needed(PolicyDecision.event_key.expression) for needed in still_needed])
        .order_by(PolicyDecision.created_at, PolicyDecision.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(tuple_(PolicyDecision.created_at, PolicyDecision.id) > after)
    return [(row_id, created) for row_id, created in (await session.execute(stmt)).all()]


async def delete_decisions(session: AsyncSession, ids: Sequence[int]) -> int:
    """Delete these decisions; how many there were."""
    if not ids:
        return 0
    stmt = (
        delete(PolicyDecision)
        .where(PolicyDecision.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(await session.execute(stmt), "rowcount", 0) or 0)


async def count_decisions_before(session: AsyncSession, cutoff: datetime) -> int:
    stmt = select(func.count()).where(PolicyDecision.created_at < cutoff)
    return int(await session.scalar(stmt) or 0)


# --- approvals -----------------------------------------------------------------------


async def insert_approval(session: AsyncSession, row: dict[str, Any]) -> None:
    """One approval request per event; a second notify of the same event adds nothing."""
    table = ApprovalRequest.__table__
    assert isinstance(table, Table)
    await session.execute(_insert_ignoring_duplicates(session, table, ["event_key"]), [row])


async def approval_for_event(session: AsyncSession, event_key: str) -> ApprovalRequest | None:
    stmt = select(ApprovalRequest).where(ApprovalRequest.event_key == event_key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_approval(session: AsyncSession, approval_id: int) -> ApprovalRequest | None:
    """The request, locked until commit so two approvers cannot both decide it."""
    stmt = select(ApprovalRequest).where(ApprovalRequest.id == approval_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_approval_with_audit(
    session: AsyncSession, approval_id: int
) -> ApprovalRequest | None:
    stmt = (
        select(ApprovalRequest)
        .where(ApprovalRequest.id == approval_id)
        .options(selectinload(ApprovalRequest.audit))
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_approvals(
    session: AsyncSession, *, status: str | None, after: int | None, limit: int
) -> Sequence[ApprovalRequest]:
    stmt = (
        select(ApprovalRequest)
        .options(selectinload(ApprovalRequest.audit))
        .order_by(ApprovalRequest.id)
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(ApprovalRequest.status == status)
    if after is not None:
        stmt = stmt.where(ApprovalRequest.id > after)
    return (await session.execute(stmt)).scalars().all()


def add_audit(
    session: AsyncSession,
    *,
    approval_id: int,
    action: str,
    user_id: int | None,
    reason: str | None,
) -> None:
    session.add(
        ApprovalAudit(approval_id=approval_id, action=action, user_id=user_id, reason=reason)
    )


async def is_granted_approver(session: AsyncSession, user_id: int) -> bool:
    return (await session.get(Approver, user_id)) is not None


async def list_approvers(session: AsyncSession) -> Sequence[tuple[Approver, User]]:
    stmt = select(Approver, User).join(User, User.id == Approver.user_id).order_by(User.id)
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]
