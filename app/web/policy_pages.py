"""Admin pages for the communications policy: the editor (validate, simulate, activate)
and the approvals queue."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.deps import Session
from app.kit.clock import utcnow
from app.kit.errors import AppError, InvalidInput
from app.kit.ids import Id
from app.policy import repository as policy_repo
from app.policy import service as policy_service
from app.policy.decisions import approvals, verdicts
from app.policy.decisions.verdicts import Verdict
from app.policy.operations.simulate import simulate
from app.web.context import Viewer, render, staff_viewer

router = APIRouter(prefix="/admin", include_in_schema=False)


async def _editor(
    request: Request,
    session: Session,
    current: Viewer,
    *,
    text: str | None = None,
    issues: list[dict[str, Any]] | None = None,
    diff: Any = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    active = await policy_service.get_active_version(session)
    versions = await policy_repo.list_versions(session, after=None, limit=20)
    return render(
        request,
        "admin/policy.html",
        current,
        status_code=status_code,
        text=active.yaml_text if text is None else text,
        active=active,
        versions=versions,
        issues=issues or [],
        diff=diff,
        notice=notice,
    )


@router.get("/policy", response_model=None)
async def policy_page(request: Request, session: Session) -> Response:
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    return await _editor(request, session, current)


@router.post("/policy", response_model=None)
async def policy_action(request: Request, session: Session) -> Response:
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    form = await request.form()
    text, action = str(form.get("yaml", "")), str(form.get("action", "validate"))
    if not hmac.compare_digest(str(form.get("csrf", "")), current.csrf):
        return await _editor(
            request,
            session,
            current,
            text=text,
            status_code=403,
            notice="The form expired; try again.",
        )
    try:
        document = policy_service.check_policy_text(text)
    except InvalidInput as exc:
        return await _editor(
            request, session, current, text=text, issues=exc.details, status_code=422
        )
    if action == "simulate":
        until = utcnow()
        diff = await simulate(session, document, since=until - timedelta(days=7), until=until)
        return await _editor(
            request,
            session,
            current,
            text=text,
            diff=diff,
            notice=f"Simulated {diff.events} events of the last 7 days.",
        )
    if action == "activate":
        version = await policy_service.do_apply_policy(
            session, yaml_text=text, created_by_user_id=current.user.id
        )
        return await _editor(
            request, session, current, notice=f"Version {version.version} is now active."
        )
    return await _editor(request, session, current, text=text, notice="The policy is valid.")


@router.get("/approvals", response_model=None)
async def approvals_page(request: Request, session: Session) -> Response:
    current = await staff_viewer(request, session)
    if not isinstance(current, Viewer):
        return current
    return await _queue(request, session, current)


async def _queue(
    request: Request,
    session: Session,
    current: Viewer,
    *,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        pending = await approvals.list_approvals(
            session, user=current.user, status="pending", after=None, limit=100
        )
    except AppError as exc:
        return render(
            request,
            "admin/approvals.html",
            current,
            pending=[],
            status_code=403,
            error=exc.message,
            notice=None,
        )
    return render(
        request,
        "admin/approvals.html",
        current,
        pending=pending,
        error=error,
        notice=notice,
        status_code=status_code,
    )


@router.post("/approvals/{approval_id}", response_model=None)
async def decide(request: Request, approval_id: Id, session: Session) -> Response:
    current = await staff_viewer(request, session)
    if not isinstance(current, Viewer):
        return current
    form = await request.form()
    if not hmac.compare_digest(str(form.get("csrf", "")), current.csrf):
        return await _queue(
            request, session, current, error="The form expired; try again.", status_code=403
        )
    verdict: Verdict = "approve" if form.get("verdict") == "approve" else "reject"
    try:
        async with session.begin_nested():
            decided = await verdicts.do_decide_approval(
                session,
                approval_id=approval_id,
                user=current.user,
                verdict=verdict,
                reason=str(form.get("reason", "")),
            )
    except AppError as exc:
        return await _queue(
            request, session, current, error=exc.message, status_code=exc.status_code
        )
    # An approval says what it let out (the service's `release` audit entry).
    released = next((a.reason for a in decided.audit if a.action == "release" and a.reason), "")
    notice = f"Request {approval_id}: {verdict}d." + (
        f" {released[:1].upper()}{released[1:]}." if released else ""
    )
    return await _queue(request, session, current, notice=notice)
