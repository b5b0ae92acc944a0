"""Approvals: held events wait for a person with the approver permission.

Who may approve: every admin, and agents an admin granted the permission (`approvers`
table). End users never. With the active policy's `approval.two_person_rule` (on by
default) the author of what is held (the event's actor) cannot approve or reject it.

Every approve, reject and override writes an `approval_audit` row. Approving a request
whose redaction scan found something is an *override* and needs a reason, like a reject.

In the deciding transaction, the event's held decisions are settled (`app.policy.release`):
approved ones are released to their recipients through the outbox, with a second
`release` audit row saying what went out (or why nothing could); rejected ones are
suppressed with the rejection's reason. Domains may also react to a verdict through
`do_decide_approval`'s return value or by registering a listener for their event keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models import ApprovalRequest, Approver, Role, User
from app.policy import repository
from app.policy.evaluator import Decision, PolicyEvent
from app.policy.service import active_policy
from app.policy.sources import EventScope

Verdict = Literal["approve", "reject"]
ApprovalListener = Callable[[AsyncSession, ApprovalRequest], Awaitable[None]]

_LISTENERS: dict[str, ApprovalListener] = {}


def register_approval_listener(event_key_prefix: str, listener: ApprovalListener) -> None:
    """Call `listener` in the deciding transaction when a request for these events is decided."""
    _LISTENERS[event_key_prefix] = listener


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


async def do_decide_approval(
    session: AsyncSession,
    *,
    approval_id: int,
    user: User,
    verdict: Verdict,
    reason: str | None,
) -> ApprovalRequest:
    """Approve or reject a pending request, audited; returns it so callers can react."""
    await check_approver(session, user)
    request = await repository.lock_approval(session, approval_id)
    if request is None:
        raise NotFound("approval request not found")
    if request.status != "pending":
        raise Conflict(f"this request was already {request.status}", code="already_decided")
    policy = await active_policy(session)
    if policy.two_person_rule and request.requested_by_user_id == user.id:
        raise Forbidden(
            "you are the author of what this request holds; under the policy's two-person "
            "rule another approver must decide it",
            code="two_person_rule",
        )
    reason = (reason or "").strip() or None
    action: str = verdict
    if verdict == "approve" and request.findings:
        action = "override"  # publishing despite what the redaction scan found
    if reason is None and action != "approve":
        why = "a rejection" if verdict == "reject" else "approving flagged content (an override)"
        detail = [{"field": "reason", "message": f"{why} needs a reason"}]
        raise InvalidInput(f"{why} needs a reason", details=detail, code="reason_required")
    request.status = "approved" if verdict == "approve" else "rejected"
    request.decided_by_user_id = user.id
    request.reason = reason
    request.decided_at = utcnow()
    repository.add_audit(
        session, approval_id=request.id, action=action, user_id=user.id, reason=reason
    )
    await session.flush()
    # Imported here: releasing goes through app.policy.notify, which imports this module.
    from app.policy.release import mark_rejected, release_approved

    if verdict == "approve":
        released = await release_approved(session, request, user)
        # The service's own account of what the approval let out (no user did this part).
        repository.add_audit(
            session, approval_id=request.id, action="release", user_id=None, reason=released
        )
        await session.flush()
    else:
        await mark_rejected(session, request, user)
    for prefix, listener in _LISTENERS.items():
        if request.event_key.startswith(prefix):
            await listener(session, request)
    found = await repository.get_approval_with_audit(session, request.id)
    assert found is not None
    return found


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
