"""Verdicts on approval requests: approve or reject, audited, and what they let out.

With the active policy's `approval.two_person_rule` (on by default) the author of what is
held (the event's actor) cannot approve or reject it. Every approve, reject and override
writes an `approval_audit` row. Approving a request whose redaction scan found something
is an *override* and needs a reason, like a reject.

In the deciding transaction, the event's held decisions are settled
(`app.policy.decisions.release`): approved ones are released to their recipients through
the outbox, with a second `release` audit row saying what went out (or why nothing
could); rejected ones are suppressed with the rejection's reason. Domains may also react
to a verdict through `do_decide_approval`'s return value or by registering a listener for
their event keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models import ApprovalRequest, User
from app.policy import repository
from app.policy.decisions.approvals import check_approver
from app.policy.decisions.release import mark_rejected, release_approved
from app.policy.service import active_policy

Verdict = Literal["approve", "reject"]
ApprovalListener = Callable[[AsyncSession, ApprovalRequest], Awaitable[None]]

_LISTENERS: dict[str, ApprovalListener] = {}


def register_approval_listener(event_key_prefix: str, listener: ApprovalListener) -> None:
    """Call `listener` in the deciding transaction when a request for these events is decided."""
    _LISTENERS[event_key_prefix] = listener


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
    # Imported here: releasing goes through app.policy.decisions.notify, which imports this module.

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
