"""Configuring instances over the API: checked before saving, keyed by the remote identity."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ConnectorInstance, Role
from tests.factories import auth, create_user


@pytest.fixture
async def admin(session: AsyncSession) -> dict[str, str]:
    _, token = await create_user(session, role=Role.ADMIN)
    await session.commit()
    return auth(token)


async def _add(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> httpx.Response:
    body = {"kind": "scripted", "name": "Desk", "secrets": {"token": "s3cr3t-value"}, **body}
    return await client.post("/api/v1/connectors", json=body, headers=admin)


class TestAdd:
    async def test_secrets_are_never_returned(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        response = await _add(client, admin)
        assert response.status_code == 201, response.text
        assert response.json()["secret_names"] == ["token"]
        listed = await client.get("/api/v1/connectors", headers=admin)
        assert "s3cr3t-value" not in response.text + listed.text

    async def test_sync_from_must_be_a_moment(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        response = await _add(client, admin, settings={"sync_from": "yesterday-ish"})
        assert response.status_code == 422
        assert response.json()["error"]["details"] == {"setting": "sync_from"}

    async def test_sync_from_needs_a_connector_that_can_start_there(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        response = await _add(client, admin, settings={"sync_from": "now"})
        assert response.status_code == 422
        assert "cannot start from a point in time" in response.json()["error"]["message"]


class TestUpdate:
    async def test_settings_are_checked_and_may_not_move_the_instance_elsewhere(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: dict[str, str]
    ) -> None:
        first = (await _add(client, admin, settings={"scope": "a"})).json()
        await _add(client, admin, name="Other desk", settings={"scope": "b"})
        url = f"/api/v1/connectors/{first['id']}"
        moved = await client.patch(url, json={"settings": {"scope": "c"}}, headers=admin)
        assert moved.status_code == 422
        assert moved.json()["error"]["code"] == "connector_identity_changed"
        restart = await client.patch(url, json={"settings": {"sync_from": "now"}}, headers=admin)
        assert restart.status_code == 422
        clash = await client.patch(url, json={"name": "Other desk"}, headers=admin)
        assert clash.status_code == 409

        instance = await session.get(ConnectorInstance, first["id"])
        assert instance is not None
        instance.paused_reason = "auth_failed: refused"
        await session.commit()
        fixed = await client.patch(url, json={"secrets": {"token": "n3w-value"}}, headers=admin)
        assert fixed.status_code == 200, fixed.text
        assert fixed.json()["health"]["paused_reason"] is None
        assert "n3w-value" not in fixed.text
