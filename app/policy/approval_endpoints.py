"""HTTP for approvals (approvers) and for granting the approver permission (admins)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from app.auth.permissions import Admin, CurrentUser
from app.deps import Session
from app.kit.ids import Id
from app.kit.pagination import After, Limit, Page
from app.models import ApprovalRequest
from app.policy.decisions import approvals, verdicts
from app.policy.schemas import ApprovalOut, ApproveBody, ApproverOut, RejectBody

router = APIRouter(tags=["approvals"])

Status = Literal["pending", "approved", "rejected"]


def approval_out(request: ApprovalRequest) -> ApprovalOut:
    """The API shape of a request; its audit trail must be loaded."""
    return ApprovalOut.model_validate(request)


@router.get("/approvals")
async def list_approvals(
    session: Session,
    user: CurrentUser,
    status: Annotated[Status | None, Query(description="e.g. pending")] = None,
    after: After = None,
    limit: Limit = 50,
) -> Page[ApprovalOut]:
    """Approval requests, oldest first, with their audit trail (approvers only)."""
    found = await approvals.list_approvals(
        session, user=user, status=status, after=after, limit=limit
    )
    items = [approval_out(r) for r in found]
    return Page(items=items, next_after=items[-1].id if len(items) == limit else None)


@router.get("/approvals/{approval_id}")
async def get_approval(approval_id: Id, session: Session, user: CurrentUser) -> ApprovalOut:
    return approval_out(await approvals.get_approval(session, user=user, approval_id=approval_id))


@router.post("/approvals/{approval_id}/approve")
async def approve(
    approval_id: Id, session: Session, user: CurrentUser, body: ApproveBody | None = None
) -> ApprovalOut:
    """Let the held event go out; a reason is required when the redaction scan found anything."""
    decided = await verdicts.do_decide_approval(
        session,
        approval_id=approval_id,
        user=user,
        verdict="approve",
        reason=body.reason if body else None,
    )
    return approval_out(decided)


@router.post("/approvals/{approval_id}/reject")
async def reject(
    approval_id: Id, body: RejectBody, session: Session, user: CurrentUser
) -> ApprovalOut:
    """Stop the held event for good; the reason is required and audited."""
    decided = await verdicts.do_decide_approval(
        session, approval_id=approval_id, user=user, verdict="reject", reason=body.reason
    )
    return approval_out(decided)


@router.get("/approvers")
async def list_approvers(session: Session, _admin: Admin) -> list[ApproverOut]:
    """Agents granted the approver permission (admins have it by role)."""
    return [
        ApproverOut(
            user_id=user.id,
            email=user.email,
            name=user.name,
            granted_by_user_id=grant.granted_by_user_id,
            created_at=grant.created_at,
        )
        for grant, user in await approvals.list_approvers(session)
    ]


@router.put("/approvers/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def grant_approver(user_id: Id, session: Session, admin: Admin) -> None:
    await approvals.do_grant_approver(session, user_id=user_id, granted_by_user_id=admin.id)


@router.delete("/approvers/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_approver(user_id: Id, session: Session, _admin: Admin) -> None:
    await approvals.do_revoke_approver(session, user_id=user_id)
