"""Staff pages: the metrics dashboard and user management (admins)."""

from __future__ import annotations

import hmac
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from app.auth.schemas import UserCreate
from app.auth.service import do_create_user
from app.deps import Session
from app.kit.clock import utcnow
from app.kit.errors import AppError
from app.kit.ids import Id
from app.metrics import service as metrics
from app.metrics import surveys
from app.models import Role, User
from app.web.charts import bar_chart
from app.web.context import Viewer, render, staff_viewer

router = APIRouter(include_in_schema=False)


@router.get("/admin/metrics", response_model=None)
async def metrics_page(request: Request, session: Session, days: int = 30) -> Response:
    current = await staff_viewer(request, session)
    if not isinstance(current, Viewer):
        return current
    days = max(1, min(days, 366))
    until = utcnow()
    since = until - timedelta(days=days)
    figures = await metrics.ticket_figures(session, since=since, until=until)
    report = metrics.summarize(figures, since=since, until=until)
    share = bar_chart(
        "Share of tickets answered within SLA, by day opened",
        [
            (
                p.date.isoformat(),
                None if p.share_within_sla is None else round(p.share_within_sla * 100, 1),
            )
            for p in report.daily
        ],
        maximum=100,
        unit="%",
    )
    hours = [
        f.sla.first_response_seconds / 3600
        for f in figures
        if f.sla and f.sla.first_response_seconds is not None
    ]
    buckets = [
        ("<1h", 0.0, 1.0),
        ("1-4h", 1.0, 4.0),
        ("4-8h", 4.0, 8.0),
        ("8-24h", 8.0, 24.0),
        (">24h", 24.0, float("inf")),
    ]
    distribution = bar_chart(
        "First-response time distribution (tickets)",
        [(label, float(sum(1 for h in hours if lo <= h < hi))) for label, lo, hi in buckets],
    )
    csat = await surveys.report(session, since=since, until=until)
    satisfaction = bar_chart(
        "Satisfaction: average rating by day (1-5)",
        [(d.date.isoformat(), d.average) for d in csat.daily],
        maximum=5,
    )
    return render(
        request,
        "admin/metrics.html",
        current,
        report=report,
        days=days,
        charts=[share, distribution, satisfaction],
        csat=csat,
    )


@router.get("/admin/users", response_model=None)
async def users_page(request: Request, session: Session) -> Response:
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    return await _users(request, session, current)


async def _users(
    request: Request,
    session: Session,
    current: Viewer,
    *,
    error: str | None = None,
    created: str | None = None,
    status_code: int = 200,
) -> Response:
    users = (await session.execute(select(User).order_by(User.id))).scalars().all()
    return render(
        request,
        "admin/users.html",
        current,
        users=users,
        roles=list(Role),
        error=error,
        created=created,
        status_code=status_code,
    )


@router.post("/admin/users", response_model=None)
async def create_user(request: Request, session: Session) -> Response:
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not hmac.compare_digest(form.pop("csrf", ""), current.csrf):
        return await _users(
            request, session, current, error="The form expired; try again.", status_code=403
        )
    try:
        body = UserCreate.model_validate(
            {
                "email": form.get("email", ""),
                "name": form.get("name", ""),
                "role": form.get("role", ""),
                "password": form.get("password") or None,
            }
        )
        user, token = await do_create_user(
            session, email=body.email, name=body.name, role=body.role, password=body.password
        )
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
        return await _users(
            request, session, current, error=f"Check these fields: {fields}.", status_code=422
        )
    except AppError as exc:
        return await _users(
            request, session, current, error=exc.message, status_code=exc.status_code
        )
    return await _users(
        request, session, current, created=f"Created {user.email}. API token (shown once): {token}"
    )


@router.get("/admin", response_model=None)
async def admin_home(request: Request, session: Session) -> Response:
    return RedirectResponse("/admin/connectors", 303)


@router.get("/admin/deliveries", response_model=None)
async def deliveries_page(request: Request, session: Session, status: str = "dead") -> Response:
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    return await _deliveries(request, session, current, status=status)


async def _deliveries(
    request: Request,
    session: Session,
    current: Viewer,
    *,
    status: str,
    notice: str | None = None,
    error: str | None = None,
) -> Response:
    from app.outbox import repository as outbox_repo

    rows = await outbox_repo.list_by_status(session, status=status, after=None, limit=200)
    return render(
        request,
        "admin/deliveries.html",
        current,
        rows=rows,
        status=status,
        notice=notice,
        error=error,
    )


@router.post("/admin/deliveries/{delivery_id}/retry", response_model=None)
async def retry_delivery(request: Request, delivery_id: Id, session: Session) -> Response:
    from app.outbox import service as outbox_service

    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    form = await request.form()
    if not hmac.compare_digest(str(form.get("csrf", "")), current.csrf):
        return await _deliveries(
            request, session, current, status="dead", error="The form expired; try again."
        )
    try:
        async with session.begin_nested():
            await outbox_service.do_retry(session, delivery_id)
    except AppError as exc:
        return await _deliveries(request, session, current, status="dead", error=exc.message)
    return await _deliveries(
        request,
        session,
        current,
        status="dead",
        notice=f"Delivery {delivery_id} will be tried again.",
    )
