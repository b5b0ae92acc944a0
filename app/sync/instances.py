"""Connector instances: configure (credentials checked first), build, describe."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import Conflict, InvalidInput
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance
from connectors import registry
from connectors.base import Connector, ConnectorConfig, ConnectorError, Health

HTTP_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


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
    """Check the credentials against the remote system, then save the instance."""
    cls = connector_class(kind)
    merged = {**cls.initial_settings(), **settings}
    try:
        connector = cls.create(
            ConnectorConfig(url=url, secrets=secrets, settings=merged),
            http,
        )
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
    session.add(instance)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent add of the same system won the race
        raise Conflict("this connector was just added by someone else") from exc
    return instance, health
