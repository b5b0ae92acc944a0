"""Closing comments against the real Redmine peer: a ticket linked to a status incident
gets the approved public resolution text as one public journal, and only once."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role
from app.runtime import Runtime
from app.sync.closing import ClosingCommentWorker
from tests.factories import auth, create_user
from tests.integration.sync_helpers import admin_api

pytestmark = pytest.mark.integration

INTERNAL_MARK = "SECRET-INTERNAL"


async def create_issue(http: httpx.AsyncClient, env: dict[str, str], subject: str) -> int:
    response = await http.post(
        f"{env['REDMINE_URL']}/issues.json",
        json={
            "issue": {
                "project_id": env["REDMINE_PROJECT"],
                "tracker_id": 3,
                "subject": subject,
                "description": f"{subject}: details.",
            }
        },
        headers={"X-Redmine-API-Key": env["REDMINE_USER_KEY"]},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["issue"]["id"])


async def journals(
    http: httpx.AsyncClient, env: dict[str, str], issue: int, who: str
) -> list[dict[str, Any]]:
    response = await http.get(
        f"{env['REDMINE_URL']}/issues/{issue}.json",
        params={"include": "journals"},
        headers={"X-Redmine-API-Key": env[f"REDMINE_{who}_KEY"]},
    )
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["issue"]["journals"]
    return found


async def test_resolving_an_incident_comments_on_the_linked_redmine_issue_once(
    client: httpx.AsyncClient,
    session: AsyncSession,
    runtime: Runtime,
    http: httpx.AsyncClient,
    redmine_env: dict[str, str],
) -> None:
    api = await admin_api(client, session)
    _, author = await create_user(session, role=Role.AGENT)
    _, approver = await create_user(session, role=Role.AGENT)
    await session.commit()
    added = await api.add(
        kind="redmine",
        name=f"Redmine {uuid.uuid4().hex[:6]}",
        url=redmine_env["REDMINE_URL"],
        secrets={"api_key": redmine_env["REDMINE_ADMIN_KEY"]},
        settings={"project": redmine_env["REDMINE_PROJECT"], "sync_from": "now"},
    )
    assert added.status_code == 201, added.text
    connector_id = int(added.json()["id"])
    issue = await create_issue(http, redmine_env, "VPN drops every ten minutes")
    await api.sync(connector_id)
    ticket = await api.ticket(connector_id, issue)

    slug = f"vpn-{uuid.uuid4().hex[:6]}"
    service = await client.post(
        "/api/v1/services", json={"slug": slug, "name": "VPN", "visibility": "public"},
        headers=api.admin,
    )  # fmt: skip
    assert service.status_code == 201, service.text
    opened = await client.post(
        "/api/v1/status/incidents",
        json={
            "title": f"{INTERNAL_MARK} vpn-gw-02 flapping",
            "public_title": "VPN disconnects",
            "services": [{"service": slug}],
            "update": {"body": "looking", "public_body": "We are looking into it.",
                       "audience": "public"},
        },
        headers=auth(author),
    )  # fmt: skip
    assert opened.status_code == 201, opened.text
    incident_id = opened.json()["id"]
    linked = await client.post(
        f"/api/v1/status/incidents/{incident_id}/tickets",
        json={"ticket_id": ticket["id"]},
        headers=auth(author),
    )
    assert linked.status_code == 201, linked.text
    text = f"The VPN is stable again ({uuid.uuid4().hex[:8]}). Thank you for your patience."
    resolved = await client.post(
        f"/api/v1/status/incidents/{incident_id}/updates",
        json={"status": "resolved", "audience": "public", "public_body": text,
              "body": f"{INTERNAL_MARK}: replaced the gateway's PSU"},
        headers=auth(author),
    )  # fmt: skip
    assert resolved.status_code == 201, resolved.text
    approved = await client.post(
        f"/api/v1/status/updates/{resolved.json()['id']}/approve", json={}, headers=auth(approver)
    )
    assert approved.status_code == 200, approved.text

    worker = ClosingCommentWorker(
        runtime.sessionmaker, runtime.box, runtime.http, base_url="https://desk.example.com"
    )
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0  # a second pass writes nothing more

    # Redmine has exactly one journal: public, seen by the requester, the approved text.
    [journal] = await journals(http, redmine_env, issue, "AGENT")
    assert journal["private_notes"] is False
    assert journal["notes"].startswith(text)
    assert "VPN disconnects" in journal["notes"]
    assert INTERNAL_MARK not in journal["notes"]
    assert [j["id"] for j in await journals(http, redmine_env, issue, "USER")] == [journal["id"]]
    links = await client.get(
        f"/api/v1/status/incidents/{incident_id}/tickets", headers=auth(author)
    )
    [done] = links.json()
    assert done["closing_written_at"] is not None
    assert done["closing_last_error"] is None

    # The next sync knows the comment as ours: it is not ingested as someone else's.
    report = await api.sync(connector_id)
    assert report["own_writes"] == 1
    bodies = [e["body"] for e in await api.timeline(ticket["id"])]
    assert bodies == ["VPN drops every ten minutes: details."]
    assert len(await journals(http, redmine_env, issue, "AGENT")) == 1
