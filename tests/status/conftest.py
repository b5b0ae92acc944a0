"""Fixtures of the status tests: a desk of people, services, and an internal domain policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role
from app.policy.engine.document import default_policy_text
from app.policy.service import do_apply_policy
from tests.factories import auth, create_user

INTERNAL_DOMAIN = "corp.example.com"


@dataclass(frozen=True)
class Desk:
    """Who takes part: an admin, two agents (author and approver) and an employee."""

    admin: dict[str, str]
    alex: dict[str, str]
    bo: dict[str, str]
    erin: dict[str, str]
    alex_id: int
    bo_id: int
    erin_token: str


@pytest.fixture
async def desk(session: AsyncSession) -> Desk:
    _admin, admin_token = await create_user(session, role=Role.ADMIN)
    alex, alex_token = await create_user(session, role=Role.AGENT)
    bo, bo_token = await create_user(session, role=Role.AGENT)
    _erin, erin_token = await create_user(session, role=Role.END_USER)
    # The configured internal domain makes "vpn-gw-02.corp.example.com" a redaction finding.
    text = default_policy_text().replace(
        "internal_domains: []", f"internal_domains: [{INTERNAL_DOMAIN}]"
    )
    await do_apply_policy(session, yaml_text=text, created_by_user_id=None)
    await session.commit()
    return Desk(
        auth(admin_token), auth(alex_token), auth(bo_token), auth(erin_token),
        alex.id, bo.id, erin_token,
    )  # fmt: skip


async def add_service(
    client: httpx.AsyncClient,
    desk: Desk,
    slug: str,
    *,
    visibility: str = "public",
    group: str = "Workplace",
    name: str | None = None,
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/services",
        json={
            "slug": slug,
            "name": name or slug.upper(),
            "group": group,
            "visibility": visibility,
            "description": f"The {slug} service",
        },
        headers=desk.admin,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def open_incident(
    client: httpx.AsyncClient,
    desk: Desk,
    services: list[str],
    *,
    body: str = "We are looking into it.",
    audience: str = "public",
    public_body: str | None = None,
    title: str = "Service disruption",
    public_title: str | None = None,
    impact: str | None = "major_outage",
    kind: str = "incident",
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    update: dict[str, Any] = {"body": body, "audience": audience}
    if public_body is not None:
        update["public_body"] = public_body
    payload: dict[str, Any] = {
        "kind": kind,
        "title": title,
        "services": [{"service": s, "impact": impact} for s in services],
        "update": update,
        **(extra or {}),
    }
    if public_title is not None:
        payload["public_title"] = public_title
    response = await client.post(
        "/api/v1/status/incidents", json=payload, headers=headers or desk.alex
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def post_update(
    client: httpx.AsyncClient,
    desk: Desk,
    incident_id: int,
    *,
    body: str,
    audience: str = "public",
    status: str | None = None,
    public_body: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    payload: dict[str, Any] = {"body": body, "audience": audience}
    if status is not None:
        payload["status"] = status
    if public_body is not None:
        payload["public_body"] = public_body
    return await client.post(
        f"/api/v1/status/incidents/{incident_id}/updates",
        json=payload,
        headers=headers or desk.alex,
    )


async def approve(
    client: httpx.AsyncClient,
    desk: Desk,
    update_id: int,
    *,
    reason: str | None = None,
    redacted: bool = False,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"publish_redacted": redacted}
    if reason is not None:
        body["reason"] = reason
    return await client.post(
        f"/api/v1/status/updates/{update_id}/approve", json=body, headers=headers or desk.bo
    )
