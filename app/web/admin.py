"""Admin pages: connectors (add with a credentials check, health, sync now)."""

from __future__ import annotations

import hmac
from typing import cast

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.deps import Bus, Session
from app.kit.errors import AppError
from app.kit.secrets import SecretBox
from app.models import Role
from app.sync import instances
from app.sync import repository as sync_repo
from app.sync.engine import sync_instance
from app.web.context import Viewer, render, to_login, viewer
from connectors import registry

router = APIRouter(prefix="/admin", include_in_schema=False)


async def _admin(request: Request, session: Session) -> Viewer | Response:
    current = await viewer(request, session)
    if current is None:
        return to_login(request)
    if current.user.role is not Role.ADMIN:
        return render(request, "not_found.html", current, status_code=404)
    return current


def _pairs(text: str) -> dict[str, str]:
    """`key=value` lines from a textarea."""
    pairs = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip():
            pairs[key.strip()] = value.strip()
    return pairs


async def _page(
    request: Request,
    session: Session,
    current: Viewer,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> Response:
    counts = await sync_repo.ticket_counts(session)
    return render(
        request,
        "admin/connectors.html",
        current,
        status_code=status_code,
        connectors=await sync_repo.list_instances(session),
        counts=counts,
        kinds=list(registry.known_kinds()),
        error=error,
        form=form or {},
        notice=notice,
    )


@router.get("/connectors", response_model=None)
async def connectors_page(request: Request, session: Session) -> Response:
    current = await _admin(request, session)
    if not isinstance(current, Viewer):
        return current
    return await _page(request, session, current)


@router.post("/connectors", response_model=None)
async def add_connector(request: Request, session: Session) -> Response:
    current = await _admin(request, session)
    if not isinstance(current, Viewer):
        return current
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not hmac.compare_digest(form.get("csrf", ""), current.csrf):
        return await _page(
            request,
            session,
            current,
            error="The form expired; try again.",
            form=form,
            status_code=403,
        )
    try:
        await instances.do_add_instance(
            session,
            box=cast(SecretBox, request.app.state.secret_box),
            http=cast(httpx.AsyncClient, request.app.state.http),
            kind=form.get("kind", ""),
            name=form.get("name", "").strip(),
            url=form.get("url", "").strip() or None,
            secrets=_pairs(form.get("secrets", "")),
            settings=_pairs(form.get("settings", "")),
        )
    except AppError as exc:
        form.pop("secrets", None)  # never echo credentials back into the page
        return await _page(
            request, session, current, error=exc.message, form=form, status_code=exc.status_code
        )
    return RedirectResponse("/admin/connectors", 303)


@router.post("/connectors/{connector_id}/sync", response_model=None)
async def sync_now(request: Request, connector_id: int, session: Session, bus: Bus) -> Response:
    current = await _admin(request, session)
    if not isinstance(current, Viewer):
        return current
    form = await request.form()
    if not hmac.compare_digest(str(form.get("csrf", "")), current.csrf):
        return await _page(
            request, session, current, error="The form expired; try again.", status_code=403
        )
    report = await sync_instance(
        request.app.state.sessionmaker,
        bus,
        request.app.state.secret_box,
        request.app.state.http,
        connector_id,
    )
    notice = (
        f"Sync failed: {report.error}"
        if report.error
        else f"Synced: {report.events_ingested} new events, {report.tickets_created} new tickets."
    )
    return await _page(request, session, current, notice=notice)
