"""Connector instances: configure (credentials checked first), build, describe."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.errors import Conflict, InvalidInput
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance
from connectors import registry
from connectors.base import Connector, ConnectorConfig, ConnectorError, Health

HTTP_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
# Setting: start from this moment (ISO 8601, or `now`) instead of the whole history.
SYNC_FROM = "sync_from"


def new_http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)


def connector_class(kind: str) -> type[Connector]:
    try:
        return registry.get(kind)
    except registry.UnknownConnectorKind as exc:
        raise InvalidInput(
            str(exc), code="unknown_connector_kind", details={"known_kinds": exc.known}
        ) from exc


def build(instance: ConnectorInstance, box: SecretBox, http: httpx.AsyncClient) -> Connector:
    """A live connector for a stored instance (secrets decrypted only here)."""
    config = ConnectorConfig(
        url=instance.base_url,
        secrets=box.open(instance.secrets_sealed),
        settings={str(k): str(v) for k, v in instance.settings.items()},
    )
    return connector_class(instance.kind).create(config, http)


async def do_add_instance(
    session: AsyncSession,
    *,
    box: SecretBox,
    http: httpx.AsyncClient,
    kind: str,
    name: str,
    url: str | None,
    secrets: dict[str, str],
    settings: dict[str, str],
    poll_interval: int = 10,
) -> tuple[ConnectorInstance, Health]:
    """Check the credentials against the remote system, then save the instance.

    Every remote call comes before the first query, so a caller that holds no transaction
    when it calls (`app.db.end_transaction`) holds no connection while the remote
    system answers: on SQLite the process has only one.
    """
    cls = connector_class(kind)
    merged = {**cls.initial_settings(), **settings}
    sync_from = _sync_from(merged.get(SYNC_FROM))
    connector, health = await _checked(cls, url, secrets, merged, http)
    assert health.remote_identity is not None
    cursor = await _cursor_at(connector, sync_from) if sync_from is not None else None
    clash = await session.scalar(
        select(ConnectorInstance).where(
            (ConnectorInstance.remote_identity == health.remote_identity)
            | (ConnectorInstance.name == name)
        )
    )
    if clash is not None:
        what = "name" if clash.name == name else "remote system and project/queue"
        raise Conflict(f"connector {clash.id} already uses this {what}", code="connector_exists")
    instance = ConnectorInstance(
        kind=kind,
        name=name,
        base_url=url,
        secrets_sealed=box.seal(secrets),
        settings=merged,
        poll_interval=poll_interval,
        remote_identity=health.remote_identity,
    )
    if sync_from is not None:
        instance.cursor = cursor
        instance.settings = {**merged, SYNC_FROM: sync_from.isoformat()}
    session.add(instance)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent add of the same system won the race
        raise Conflict("this connector was just added by someone else") from exc
    return instance, health


async def do_update_instance(
    session: AsyncSession,
    instance: ConnectorInstance,
    *,
    box: SecretBox,
    http: httpx.AsyncClient,
    name: str | None = None,
    enabled: bool | None = None,
    poll_interval: int | None = None,
    secrets: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
) -> ConnectorInstance:
    """Change an instance; new credentials or settings are checked before they are saved.

    The check (a remote call) comes first and the changes are made in a savepoint, so a
    refused change leaves the instance as it was, and a caller that holds no transaction
    when it calls holds no connection while the remote system answers.
    """
    checked: tuple[dict[str, str], dict[str, Any]] | None = None
    if secrets is not None or settings is not None:
        if settings is not None and SYNC_FROM in settings:
            raise InvalidInput(
                f"{SYNC_FROM} applies when a connector is added; add a new connector instead",
                code="invalid_setting",
            )
        new_secrets = {**box.open(instance.secrets_sealed), **(secrets or {})}
        new_settings = {**instance.settings, **(settings or {})}
        cls = connector_class(instance.kind)
        _, health = await _checked(cls, instance.base_url, new_secrets, new_settings, http)
        if health.remote_identity != instance.remote_identity:
            raise InvalidInput(
                "these settings point at another system or project/queue "
                f"({health.remote_identity}); add a new connector for it instead",
                code="connector_identity_changed",
            )
        checked = (new_secrets, new_settings)
    async with session.begin_nested():
        if name is not None and name != instance.name:
            clash = await session.scalar(
                select(ConnectorInstance.id).where(ConnectorInstance.name == name)
            )
            if clash is not None:
                raise Conflict(f"connector {clash} already uses this name", code="connector_exists")
            instance.name = name
        if enabled is not None:
            instance.enabled = enabled
        if poll_interval is not None:
            instance.poll_interval = poll_interval
        if checked is not None:
            instance.secrets_sealed = box.seal(checked[0])
            instance.settings = checked[1]
        if checked is not None or enabled:
            # Checked credentials or a re-enable: try again now instead of staying paused.
            instance.paused_reason = None
            instance.next_attempt_at = None
    return instance


async def _checked(
    cls: type[Connector],
    url: str | None,
    secrets: dict[str, str],
    settings: dict[str, str],
    http: httpx.AsyncClient,
) -> tuple[Connector, Health]:
    """A connector for this configuration whose check passed, or a 422 saying what failed."""
    try:
        connector = cls.create(ConnectorConfig(url=url, secrets=secrets, settings=settings), http)
        health = await connector.check()
    except ConnectorError as exc:
        raise InvalidInput(exc.message, code="connector_check_failed") from exc
    if not health.ok or health.remote_identity is None:
        raise InvalidInput(
            f"the connector check failed: {health.detail}",
            code="connector_check_failed",
            details={
                "reachable": health.reachable,
                "authenticated": health.authenticated,
                "permissions_ok": health.permissions_ok,
            },
        )
    return connector, health


def _sync_from(value: str | None) -> datetime | None:
    if value is None:
        return None
    if value.strip().lower() == "now":
        return utcnow()
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{SYNC_FROM} must be an ISO 8601 date and time or 'now'",
            code="invalid_setting",
            details={"setting": SYNC_FROM},
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _cursor_at(connector: Connector, moment: datetime) -> str:
    """The connector's cursor for `moment` (an optional capability beyond the contract)."""
    cursor_at = getattr(connector, "cursor_at", None)
    if cursor_at is None:
        raise InvalidInput(
            f"the {connector.kind} connector cannot start from a point in time",
            code="invalid_setting",
            details={"setting": SYNC_FROM},
        )
    try:
        return str(await cursor_at(moment))
    except ConnectorError as exc:
        raise InvalidInput(exc.message, code="connector_check_failed") from exc
