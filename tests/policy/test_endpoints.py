"""The policy over HTTP: versions, validation errors, decisions and their explanations."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role
from app.policy.engine.document import default_policy_text
from tests.factories import auth, create_user
from tests.policy.support import notify, policy_yaml, store_event, ticket_for

YAML = {"Content-Type": "text/yaml"}

CANDIDATE = policy_yaml("""
    - id: resolution-only
      on: [ticket.resolved]
      to: [requester]
      via: [email]
""")


async def _admin(session: AsyncSession) -> dict[str, str]:
    _, token = await create_user(session, role=Role.ADMIN)
    return auth(token)


class TestVersions:
    async def test_the_shipped_default_is_version_one_on_first_use(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin = await _admin(session)
        response = await client.get("/api/v1/policy", headers=admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["version"] == 1
        assert body["is_active"] is True
        assert body["yaml"] == default_policy_text()
        assert body["created_by_user_id"] is None

    async def test_a_saved_version_becomes_active_and_is_listed(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin = await _admin(session)
        saved = await client.put("/api/v1/policy", content=CANDIDATE, headers=admin | YAML)
        assert saved.status_code == 200, saved.text
        assert saved.json()["version"] == 2
        assert saved.json()["yaml"] == CANDIDATE
        active = (await client.get("/api/v1/policy", headers=admin)).json()
        assert active["version"] == 2
        listed = (await client.get("/api/v1/policy/versions", headers=admin)).json()["items"]
        assert [(v["version"], v["is_active"]) for v in listed] == [(2, True), (1, False)]
        old = await client.get("/api/v1/policy/versions/1", headers=admin)
        assert old.json()["yaml"] == default_policy_text()
        # Saving the active text again is not a new version.
        again = await client.put("/api/v1/policy", content=CANDIDATE, headers=admin | YAML)
        assert again.json()["version"] == 2
        back = await client.put(
            "/api/v1/policy", content=default_policy_text(), headers=admin | YAML
        )
        assert back.json()["version"] == 3

    async def test_invalid_yaml_is_a_422_naming_rule_field_and_line(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin = await _admin(session)
        broken = policy_yaml("""
            - id: typo
              on: [ticket.resolvd]
              to: [requester]
              via: [email]
              timing: {delay: soon}
        """)
        response = await client.put("/api/v1/policy", content=broken, headers=admin | YAML)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_policy"
        issues = {(i["rule"], i["path"], i["line"]) for i in error["details"]}
        assert ("typo", "on[0]", 3) in issues
        assert ("typo", "timing.delay", 6) in issues
        assert all(i["message"] for i in error["details"])
        syntax = await client.put("/api/v1/policy", content="rules: [", headers=admin | YAML)
        assert syntax.status_code == 422
        assert syntax.json()["error"]["details"][0]["message"].startswith("YAML syntax")
        assert (await client.get("/api/v1/policy", headers=admin)).json()["version"] == 1

    async def test_an_unsafe_policy_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin = await _admin(session)
        leaky = policy_yaml("""
            - id: notes-to-requester
              on: [ticket.commented]
              to: [requester]
              via: [email]
        """)
        response = await client.put("/api/v1/policy", content=leaky, headers=admin | YAML)
        assert response.status_code == 422
        (issue,) = response.json()["error"]["details"]
        assert issue["rule"] == "notes-to-requester"
        assert issue["path"] == "when"
        assert "event.visibility" in issue["message"]

    async def test_only_yaml_bodies_and_only_admins(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin = await _admin(session)
        _, agent = await create_user(session, role=Role.AGENT)
        as_json = await client.put("/api/v1/policy", json={"yaml": CANDIDATE}, headers=admin)
        assert as_json.status_code == 415
        assert as_json.json()["error"]["code"] == "unsupported_media_type"
        denied = await client.put("/api/v1/policy", content=CANDIDATE, headers=auth(agent) | YAML)
        assert denied.status_code == 403
        assert (await client.get("/api/v1/decisions", headers=auth(agent))).status_code == 403
        assert (await client.get("/api/v1/policy")).status_code == 401


class TestDecisions:
    async def test_decisions_are_listed_per_event_and_recipient_with_reasons(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        admin = await _admin(session)
        rita, _ = await create_user(session)
        agent, _ = await create_user(session, role=Role.AGENT)
        ticket = await ticket_for(session, requester=rita, assignee=agent, priority="P2")
        note = await store_event(session, ticket, visibility="internal", body="db01 down")
        done = await store_event(session, ticket, kind="ticket.resolved", new="resolved")
        await notify(session, note, done)
        params: dict[str, str | int] = {
            "event_id": f"ticket_event:{note.id}",
            "recipient_id": rita.id,
        }
        page = (await client.get("/api/v1/decisions", params=params, headers=admin)).json()
        assert {(d["channel"], d["outcome"]) for d in page["items"]} == {
            ("in_app", "suppress"),
            ("email", "suppress"),
        }
        first = page["items"][0]
        assert first["explanation"][0].startswith(f"Not sent to user:{rita.id}")
        assert any("internal content" in line for line in first["explanation"])
        everyone = await client.get(
            "/api/v1/decisions", params={"event_id": f"ticket_event:{done.id}"}, headers=admin
        )
        outcomes = {(d["recipient_user_id"], d["channel"]): d for d in everyone.json()["items"]}
        sent = outcomes[(rita.id, "email")]
        assert sent["outcome"] == "send"
        assert sent["rule_id"] == "requester-hears-resolution"
        explained = await client.get(f"/api/v1/decisions/{sent['id']}/explain", headers=admin)
        assert explained.status_code == 200
        lines = explained.json()["explanation"]
        # The requester also follows her ticket, and a decision is explained (and redacted)
        # for the most exposed audience the recipient was reached through.
        assert lines[0] == (
            f"Sent to user:{rita.id} (followers) via email, by rule 'requester-hears-resolution'."
        )
        assert "Decided by policy version 1 for ticket.resolved." in lines
        missing = await client.get("/api/v1/decisions/999999999/explain", headers=admin)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
