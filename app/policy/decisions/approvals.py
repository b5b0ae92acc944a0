"""Approvals: held events wait for a person with the approver permission.

Who may approve: every admin, and agents an admin granted the permission (`approvers`
table). End users never. This module only stores requests and answers who may decide
them; deciding one, and releasing or suppressing what it held, is
`app.policy.decisions.verdicts` (so approvals stays a leaf that notify can import).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.errors import Forbidden, InvalidInput, NotFound
from app.models import ApprovalRequest, Approver, Role, User
from app.policy import repository
from app.policy.decisions.sources import EventScope
from app.policy.engine.evaluator import Decision, PolicyEvent


async def do_request_approval(
    session: AsyncSession,
    *,
    event: PolicyEvent,
    scope: EventScope,
    held: Sequence[Decision],
    policy_version_id: int,
) -> None:
    """Open one approval request for a held event (a second call for the same event adds none)."""
    findings = sorted({(f.kind, f.label) for decision in held for f in decision.redactions})
    row = {
        "event_key": event.key,
        "event_type": event.type,
        "subject": (scope.subject or f"{event.type} {event.key}")[:500],
        "requested_by_user_id": event.actor.user_id if event.actor else None,
        "status": "pending",
        "findings": [{"kind": kind, "label": label} for kind, label in findings],
        "rule_ids": sorted({d.rule_id for d in held if d.rule_id}),
        "policy_version_id": policy_version_id,
        "created_at": utcnow(),
    }
    await repository.insert_approval(session, row)


async def is_approver(session: AsyncSession, user: User) -> bool:
    """Admins, and agents granted the approver permission."""
    if not user.is_active or user.role is Role.END_USER:
        return False
    return user.role is Role.ADMIN or await repository.is_granted_approver(session, user.id)


async def check_approver(session: AsyncSession, user: User) -> None:
    """Raise 403 unless `user` holds the approver permission."""
    if not await is_approver(session, user):
        raise Forbidden("this action needs the approver permission (admins, or agents granted it)")


async def list_approvals(
    session: AsyncSession, *, user: User, status: str | None, after: int | None, limit: int
) -> Sequence[ApprovalRequest]:
    """Approval requests (with their audit trail), for approvers."""
    await check_approver(session, user)
    return await repository.list_approvals(session, status=status, after=after, limit=limit)


async def get_approval(session: AsyncSession, *, user: User, approval_id: int) -> ApprovalRequest:
    """One request with its audit trail, for approvers."""
    await check_approver(session, user)
    found = await repository.get_approval_with_audit(session, approval_id)
    if found is None:
        raise NotFound("approval request not found")
    return found


async def do_grant_approver(
    session: AsyncSession, *, user_id: int, granted_by_user_id: int
) -> Approver:
    """Give an agent the approver permission (admins have it already)."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    if user.role is not Role.AGENT:
        detail = [{"field": "user_id", "message": "only agents are granted it; admins have it"}]
        raise InvalidInput("only agents can be granted the approver permission", details=detail)
    found = await session.get(Approver, user_id)
    if found is None:
        found = Approver(user_id=user_id, granted_by_user_id=granted_by_user_id)
        session.add(found)
        await session.flush()
    return found


async def do_revoke_approver(session: AsyncSession, *, user_id: int) -> None:
    """Take the approver permission back from an agent (nothing happens if they lacked it)."""
    found = await session.get(Approver, user_id)
    if found is not None:
        await session.delete(found)
        await session.flush()


async def list_approvers(session: AsyncSession) -> Sequence[tuple[Approver, User]]:
    """Agents granted the approver permission."""
    return await repository.list_approvers(session)
