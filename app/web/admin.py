"""Admin pages: connectors (add with a credentials check, health, sync now, a page per
connector to edit its settings and credentials, checked exactly as adding them is)."""

from __future__ import annotations

import hmac
from typing import cast

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.db import end_transaction
from app.deps import Bus, Session
from app.kit.errors import AppError
from app.kit.ids import Id
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance
from app.sync import instances
from app.sync import repository as sync_repo
from app.sync.engine import SyncReport, sync_instance
from app.sync.schemas import ConnectorOut
from app.web.context import Viewer, render, staff_viewer
from connectors import registry

router = APIRouter(prefix="/admin", include_in_schema=False)


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
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    return await _page(request, session, current)


@router.post("/connectors", response_model=None)
async def add_connector(request: Request, session: Session) -> Response:
    current = await staff_viewer(request, session, admin=True)
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
    await end_transaction(session)  # no connection held while the system is checked
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


def _box(request: Request) -> SecretBox:
    return cast(SecretBox, request.app.state.secret_box)


def _http(request: Request) -> httpx.AsyncClient:
    return cast(httpx.AsyncClient, request.app.state.http)


def _sync_notice(report: SyncReport) -> str:
    if report.busy:
        return "A sync of this connector is running now; look again in a moment."
    if report.error:
        return f"Sync failed: {report.error}"
    return f"Synced: {report.events_ingested} new events, {report.tickets_created} new tickets."


@router.post("/connectors/{connector_id}/sync", response_model=None)
async def sync_now(request: Request, connector_id: Id, session: Session, bus: Bus) -> Response:
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    form = await request.form()
    detail = form.get("back") == "detail"
    instance = await session.get(ConnectorInstance, connector_id)
    if instance is None:
        return render(request, "not_found.html", current, status_code=404)
    if not hmac.compare_digest(str(form.get("csrf", "")), current.csrf):
        error = "The form expired; try again."
        if detail:
            return await _detail(request, session, current, instance, error=error, status_code=403)
        return await _page(request, session, current, error=error, status_code=403)
    # The sync runs in its own transactions: end this request's first (nothing is written
    # here), or on SQLite, whose one connection this session holds, the sync would wait.
    await end_transaction(session)
    report = await sync_instance(
        request.app.state.sessionmaker, bus, _box(request), _http(request), connector_id
    )
    if detail:
        await session.refresh(instance)  # the sync wrote its health in its own transaction
        return await _detail(request, session, current, instance, notice=_sync_notice(report))
    return await _page(request, session, current, notice=_sync_notice(report))


async def _detail(
    request: Request,
    session: Session,
    current: Viewer,
    instance: ConnectorInstance,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    counts = await sync_repo.ticket_counts(session)
    out = ConnectorOut.build(
        instance, list(_box(request).open(instance.secrets_sealed)), counts.get(instance.id, 0)
    )
    editable = {k: v for k, v in out.settings.items() if k != instances.SYNC_FROM}
    return render(
        request,
        "admin/connector.html",
        current,
        status_code=status_code,
        connector=out,
        settings_text="\n".join(f"{k}={v}" for k, v in editable.items()),
        sync_from=out.settings.get(instances.SYNC_FROM),
        form=form,
        error=error,
        notice=notice,
    )


@router.get("/connectors/{connector_id}", response_model=None)
async def connector_page(request: Request, connector_id: Id, session: Session) -> Response:
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    instance = await session.get(ConnectorInstance, connector_id)
    if instance is None:
        return render(request, "not_found.html", current, status_code=404)
    return await _detail(request, session, current, instance)


def _edits(
    form: dict[str, str], instance: ConnectorInstance
) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """The secrets typed in (empty keeps the stored one) and the settings that changed."""
    secrets = {
        key.removeprefix("secret."): value
        for key, value in form.items()
        if key.startswith("secret.") and value.strip()
    }
    secrets.update({k: v for k, v in _pairs(form.get("new_secrets", "")).items() if v})
    settings = {
        key: value
        for key, value in _pairs(form.get("settings", "")).items()
        if str(instance.settings.get(key)) != value
    }
    return secrets or None, settings or None


@router.post("/connectors/{connector_id}", response_model=None)
async def edit_connector(request: Request, connector_id: Id, session: Session) -> Response:
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    instance = await session.get(ConnectorInstance, connector_id)
    if instance is None:
        return render(request, "not_found.html", current, status_code=404)
    form = {k: str(v) for k, v in (await request.form()).items()}
    # Never echo credentials back into the page.
    kept = {k: v for k, v in form.items() if not k.startswith("secret.") and k != "new_secrets"}
    if not hmac.compare_digest(form.get("csrf", ""), current.csrf):
        return await _detail(
            request,
            session,
            current,
            instance,
            form=kept,
            error="The form expired; try again.",
            status_code=403,
        )
    secrets, settings = _edits(form, instance)
    enabled = form.get("enabled") == "on"
    try:
        interval = int(form.get("poll_interval", "") or instance.poll_interval)
        if not 1 <= interval <= 86_400:
            raise ValueError
    except ValueError:
        return await _detail(
            request,
            session,
            current,
            instance,
            form=kept,
            error="The poll interval is a whole number of seconds from 1 to 86400.",
            status_code=422,
        )
    await end_transaction(session)  # no connection held while new settings are checked
    try:
        # Checked first, then saved in a savepoint: a refusal leaves the instance as it was.
        await instances.do_update_instance(
            session,
            instance,
            box=_box(request),
            http=_http(request),
            name=form.get("name", "").strip() or None,
            enabled=None if enabled == instance.enabled else enabled,
            poll_interval=interval,
            secrets=secrets,
            settings=settings,
        )
    except AppError as exc:
        session.expire(instance)  # the refused change is rolled back; show what is stored
        await session.refresh(instance)
        return await _detail(
            request,
            session,
            current,
            instance,
            form=kept,
            error=exc.message,
            status_code=exc.status_code,
        )
    checked = " The credentials were checked." if secrets or settings else ""
    return await _detail(request, session, current, instance, notice=f"Saved.{checked}")
