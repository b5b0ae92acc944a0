"""Admin API for connector instances."""

from __future__ import annotations

from typing import Annotated, cast

import httpx
from fastapi import APIRouter, Depends, Request, Response, status

from app.auth.permissions import Admin
from app.db import end_transaction
from app.deps import Bus, Session
from app.kit.errors import Conflict, InvalidInput, NotFound
from app.kit.ids import Id
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance
from app.sync import instances, repository
from app.sync.engine import sync_instance
from app.sync.schemas import (
    CheckResult,
    ConnectorCreate,
    ConnectorOut,
    ConnectorUpdate,
    SyncResult,
)
from connectors.base import ConnectorError

router = APIRouter(prefix="/api/v1/connectors", tags=["connectors"])


def _box(request: Request) -> SecretBox:
    return cast(SecretBox, request.app.state.secret_box)


def _http(request: Request) -> httpx.AsyncClient:
    return cast(httpx.AsyncClient, request.app.state.http)


Box = Annotated[SecretBox, Depends(_box)]
Http = Annotated[httpx.AsyncClient, Depends(_http)]


async def _get(session: Session, connector_id: Id) -> ConnectorInstance:
    instance = await session.get(ConnectorInstance, connector_id)
    if instance is None:
        raise NotFound("connector not found")
    return instance


def _out(instance: ConnectorInstance, box: SecretBox, tickets: int) -> ConnectorOut:
    return ConnectorOut.build(instance, list(box.open(instance.secrets_sealed)), tickets)


@router.get("")
async def list_connectors(session: Session, box: Box, _admin: Admin) -> list[ConnectorOut]:
    counts = await repository.ticket_counts(session)
    return [_out(i, box, counts.get(i.id, 0)) for i in await repository.list_instances(session)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def add_connector(
    body: ConnectorCreate, session: Session, box: Box, http: Http, _admin: Admin
) -> ConnectorOut:
    await end_transaction(session)  # no connection held while the system is checked
    instance, _health = await instances.do_add_instance(
        session,
        box=box,
        http=http,
        kind=body.kind,
        name=body.name,
        url=body.url,
        secrets=body.secrets,
        settings=body.settings,
        poll_interval=body.poll_interval,
    )
    return _out(instance, box, 0)


@router.get("/{connector_id}")
async def get_connector(
    connector_id: Id, session: Session, box: Box, _admin: Admin
) -> ConnectorOut:
    instance = await _get(session, connector_id)
    counts = await repository.ticket_counts(session)
    return _out(instance, box, counts.get(instance.id, 0))


@router.patch("/{connector_id}")
async def update_connector(
    connector_id: Id, body: ConnectorUpdate, session: Session, box: Box, http: Http, _admin: Admin
) -> ConnectorOut:
    instance = await _get(session, connector_id)
    await end_transaction(session)  # no connection held while new settings are checked
    instance = await instances.do_update_instance(
        session,
        instance,
        box=box,
        http=http,
        name=body.name,
        enabled=body.enabled,
        poll_interval=body.poll_interval,
        secrets=body.secrets,
        settings=body.settings,
    )
    counts = await repository.ticket_counts(session)
    return _out(instance, box, counts.get(instance.id, 0))


@router.delete("/{connector_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_connector(connector_id: Id, session: Session, _admin: Admin) -> Response:
    await session.delete(await _get(session, connector_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{connector_id}/check")
async def check_connector(
    connector_id: Id, session: Session, box: Box, http: Http, _admin: Admin
) -> CheckResult:
    instance = await _get(session, connector_id)
    await end_transaction(session)  # no connection held while the system answers
    try:
        health = await instances.build(instance, box, http).check()
    except ConnectorError as exc:
        return CheckResult(
            ok=False,
            reachable=False,
            authenticated=False,
            permissions_ok=False,
            detail=exc.message,
        )
    return CheckResult(
        ok=health.ok,
        reachable=health.reachable,
        authenticated=health.authenticated,
        permissions_ok=health.permissions_ok,
        detail=health.detail,
    )


@router.post("/{connector_id}/sync")
async def sync_connector(
    connector_id: Id,
    request: Request,
    session: Session,
    box: Box,
    http: Http,
    bus: Bus,
    _admin: Admin,
) -> SyncResult:
    await _get(session, connector_id)
    # The sync runs in its own transactions: end this request's first (it wrote only the
    # token's last use), or on SQLite, whose one connection this session holds, the sync
    # would wait for it (60 s) and fail. The web UI's "Sync now" does the same.
    await end_transaction(session)
    report = await sync_instance(request.app.state.sessionmaker, bus, box, http, connector_id)
    if report.busy:
        raise Conflict("a sync of this connector is running now", code="sync_in_progress")
    if report.error and report.pages == 0 and report.error.startswith("config_error"):
        raise InvalidInput(report.error, code="connector_config_error")
    return SyncResult(
        pages=report.pages,
        tickets_created=report.tickets_created,
        tickets_updated=report.tickets_updated,
        events_ingested=report.events_ingested,
        duplicates=report.duplicates,
        own_writes=report.own_writes,
        skipped=report.skipped,
        has_more=report.has_more,
        error=report.error,
    )
