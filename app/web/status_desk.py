"""The agents' status desk: draft an update, preview it per audience with the redaction
findings highlighted, submit it, and approve other people's drafts."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.deps import Session
from app.kit.errors import AppError
from app.kit.ids import Id
from app.status import publishing, repository, service
from app.status.schemas import IncidentCreate
from app.web.context import Viewer, render, staff_viewer

router = APIRouter(prefix="/desk", include_in_schema=False)


@dataclass(frozen=True)
class Segment:
    text: str
    flagged: bool
    label: str = ""


def highlight(text: str, findings: list[dict[str, Any]], field: str) -> list[Segment]:
    """Split `text` so the parts the redaction scan found can be marked in the page."""
    spans = sorted((f["start"], f["end"], f["label"]) for f in findings if f["field"] == field)
    segments, cursor = [], 0
    for start, end, label in spans:
        if start < cursor:
            continue
        segments.append(Segment(text[cursor:start], False))
        segments.append(Segment(text[start:end], True, label))
        cursor = end
    segments.append(Segment(text[cursor:], False))
    return [s for s in segments if s.text]


def _form_incident(form: dict[str, str]) -> dict[str, Any]:
    return {
        "title": form.get("title", ""),
        "public_title": form.get("public_title") or None,
        "services": [{"service": form.get("service", ""), "impact": form.get("impact") or None}],
        "update": {
            "status": form.get("status") or None,
            "audience": form.get("audience", "internal"),
            "body": form.get("body", ""),
            "public_body": form.get("public_body") or None,
        },
    }


async def _page(
    request: Request,
    session: Session,
    current: Viewer,
    *,
    form: dict[str, str] | None = None,
    previews: list[dict[str, Any]] | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    pending = await repository.pending_updates(session, 100)
    incidents = await service.incidents_out(
        session, await repository.list_incidents(session, open_only=True, kind=None, limit=50)
    )
    services = await service.services_for(session, user=current.user)
    return render(
        request,
        "desk_status.html",
        current,
        status_code=status_code,
        form=form or {},
        previews=previews or [],
        error=error,
        notice=notice,
        services=services,
        incidents=incidents,
        pending=[service.update_out(u) for u in pending],
    )


@router.get("/status", response_model=None)
async def desk(request: Request, session: Session) -> Response:
    current = await staff_viewer(request, session)
    if not isinstance(current, Viewer):
        return current
    return await _page(request, session, current)


@router.post("/status", response_model=None)
async def draft(request: Request, session: Session) -> Response:
    current = await staff_viewer(request, session)
    if not isinstance(current, Viewer):
        return current
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not hmac.compare_digest(form.get("csrf", ""), current.csrf):
        return await _page(
            request,
            session,
            current,
            form=form,
            status_code=403,
            error="The form expired; try again.",
        )
    try:
        data = IncidentCreate.model_validate(_form_incident(form))
    except ValidationError as exc:
        error = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return await _page(request, session, current, form=form, error=error, status_code=422)
    if form.get("action") == "preview":
        previews = []
        for audience in ("employees", "public"):
            title = data.public_title or data.title
            body = (
                data.update.public_body if data.update.public_body is not None else data.update.body
            )
            screening = await publishing.screen(session, audience=audience, title=title, body=body)
            previews.append(
                {
                    "audience": audience,
                    "title": highlight(title, screening.findings, "title"),
                    "body": highlight(body, screening.findings, "body"),
                    "findings": screening.findings,
                }
            )
        return await _page(request, session, current, form=form, previews=previews)
    try:
        async with session.begin_nested():
            incident = await service.do_create_incident(session, data=data, author=current.user)
    except AppError as exc:
        return await _page(
            request, session, current, form=form, error=exc.message, status_code=exc.status_code
        )
    return await _page(
        request, session, current, notice=f"Incident {incident.id} opened; its update is submitted."
    )


@router.post("/status/updates/{update_id}", response_model=None)
async def decide(request: Request, update_id: Id, session: Session) -> Response:
    current = await staff_viewer(request, session)
    if not isinstance(current, Viewer):
        return current
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not hmac.compare_digest(form.get("csrf", ""), current.csrf):
        return await _page(
            request, session, current, status_code=403, error="The form expired; try again."
        )
    reason = form.get("reason") or None
    try:
        async with session.begin_nested():
            if form.get("verdict") == "approve":
                await publishing.do_approve_update(
                    session, update_id=update_id, approver=current.user, reason=reason
                )
            else:
                await publishing.do_reject_update(
                    session, update_id=update_id, user=current.user, reason=reason or ""
                )
    except (AppError, ValidationError) as exc:
        message = exc.message if isinstance(exc, AppError) else "a reason is needed"
        return await _page(request, session, current, error=message, status_code=422)
    return await _page(request, session, current, notice=f"Update {update_id} decided.")
