"""Publishing rules: drafts, held redaction findings, the two-person rule, the audit."""

from __future__ import annotations

import httpx
import pytest

from tests.status.conftest import INTERNAL_DOMAIN, Desk, add_service, approve, open_incident

# Each line is something the public must never read; the kind the redaction reports for it.
SECRETS = {
    "10.20.30.40": "ipv4",
    f"vpn-gw-02.{INTERNAL_DOMAIN}": "internal_host",
    "oncall.person@example.org": "email",
    "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8": "secret",
    "https://admin:hunter2pass@db.example.net/": "credentials",
}


class TestPublicDrafts:
    async def test_public_update_waits_for_a_second_person(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "email")
        incident = await open_incident(client, desk, ["email"], body="Mail is slow.")
        update = incident["updates"][0]
        assert update["state"] == "pending"
        assert update["published_body"] is None
        queue = (await client.get("/api/v1/status/updates", headers=desk.bo)).json()
        assert [u["id"] for u in queue] == [update["id"]]

        own = await approve(client, desk, update["id"], headers=desk.alex)
        assert own.status_code == 403
        assert own.json()["error"]["code"] == "two_person_rule"
        by_employee = await approve(client, desk, update["id"], headers=desk.erin)
        assert by_employee.status_code == 403

        approved = await approve(client, desk, update["id"])
        assert approved.status_code == 200, approved.text
        body = approved.json()
        assert body["state"] == "published"
        assert body["published_body"] == "Mail is slow."
        assert body["decided_by_user_id"] == desk.bo_id
        assert [a["action"] for a in body["audit"]] == ["approved"]

        twice = await approve(client, desk, update["id"], headers=desk.admin)
        assert twice.status_code == 409

    async def test_reject_needs_a_reason_and_keeps_it_off(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "email")
        incident = await open_incident(client, desk, ["email"])
        update_id = incident["updates"][0]["id"]
        url = f"/api/v1/status/updates/{update_id}/reject"
        assert (await client.post(url, json={}, headers=desk.bo)).status_code == 422
        assert (await client.post(url, json={"reason": " "}, headers=desk.bo)).status_code == 422
        rejected = await client.post(url, json={"reason": "wrong service"}, headers=desk.bo)
        assert rejected.status_code == 200
        assert rejected.json()["state"] == "rejected"
        assert rejected.json()["decision_reason"] == "wrong service"
        assert rejected.json()["audit"][0]["reason"] == "wrong service"
        late = await approve(client, desk, update_id, headers=desk.admin)
        assert late.status_code == 409
        assert "rejected" in late.json()["error"]["message"]

    async def test_unknown_update(self, client: httpx.AsyncClient, desk: Desk) -> None:
        assert (await approve(client, desk, 424_242)).status_code == 404


class TestHeldFindings:
    @pytest.mark.parametrize(("secret", "kind"), list(SECRETS.items()))
    async def test_any_strict_finding_holds_and_lists_no_secret(
        self, client: httpx.AsyncClient, desk: Desk, secret: str, kind: str
    ) -> None:
        await add_service(client, desk, "vpn")
        incident = await open_incident(
            client, desk, ["vpn"], body="internal notes", public_body=f"Restarted {secret} now."
        )
        update = incident["updates"][0]
        assert update["state"] == "held"
        assert kind in {f["kind"] for f in update["findings"]}
        findings_text = str(update["findings"]) + str(update["audit"])
        assert secret not in findings_text
        assert update["audit"][0]["action"] == "held"

        no_reason = await approve(client, desk, update["id"])
        assert no_reason.status_code == 422
        assert no_reason.json()["error"]["code"] == "reason_required"
        assert secret not in no_reason.text

    async def test_title_seen_by_the_public_is_scanned(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "vpn")
        incident = await open_incident(
            client, desk, ["vpn"], title=f"vpn-gw-02.{INTERNAL_DOMAIN} down", body="Looking."
        )
        update = incident["updates"][0]
        assert update["state"] == "held"
        assert {f["field"] for f in update["findings"]} == {"title"}

    async def test_override_with_redacted_text_is_audited(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "vpn")
        incident = await open_incident(
            client, desk, ["vpn"], body="Gateway 10.20.30.40 restarted; mail oncall@example.org"
        )
        update_id = incident["updates"][0]["id"]
        response = await approve(
            client, desk, update_id, reason="labels are fine for the public", redacted=True
        )
        assert response.status_code == 200, response.text
        published = response.json()
        assert published["published_body"] == "Gateway [IP address] restarted; mail [email address]"
        audit = published["audit"][-1]
        assert audit["action"] == "approved_override"
        assert audit["reason"] == "labels are fine for the public"
        assert audit["details"] == {
            "finding_kinds": ["email", "ipv4"],
            "publish_redacted": True,
        }
        assert audit["user_id"] == desk.bo_id


class TestOtherAudiences:
    async def test_clean_employee_update_publishes_at_once(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "erp", visibility="employees")
        incident = await open_incident(
            client, desk, ["erp"], audience="employees", body="ERP is slow", public_body="ERP slow"
        )
        update = incident["updates"][0]
        assert update["state"] == "published"
        assert update["published_body"] == "ERP slow"

    async def test_employee_update_with_findings_is_held(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "erp", visibility="employees")
        incident = await open_incident(
            client, desk, ["erp"], audience="employees", body="restart erp01.corp.example.com"
        )
        assert incident["updates"][0]["state"] == "held"

    async def test_internal_updates_are_published_to_staff_only(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "erp")
        incident = await open_incident(
            client, desk, ["erp"], audience="internal", body="db01 at 10.0.0.5 is swapping"
        )
        update = incident["updates"][0]
        assert update["state"] == "published"
        assert update["findings"] == []
        assert update["published_body"] is None
        as_employee = await client.get(
            f"/api/v1/status/incidents/{incident['id']}", headers=desk.erin
        )
        assert as_employee.status_code == 403
