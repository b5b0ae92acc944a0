"""Services: who may create and see them, slugs, overrides (audited)."""

from __future__ import annotations

import httpx

from tests.status.conftest import Desk, add_service, open_incident


class TestCreateService:
    async def test_admin_creates_and_slug_is_unique(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        created = await add_service(client, desk, "vpn")
        assert created["status"] == "operational"
        again = await client.post(
            "/api/v1/services", json={"slug": "vpn", "name": "VPN"}, headers=desk.admin
        )
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "service_exists"

    async def test_agents_cannot_create(self, client: httpx.AsyncClient, desk: Desk) -> None:
        response = await client.post(
            "/api/v1/services", json={"slug": "vpn", "name": "VPN"}, headers=desk.alex
        )
        assert response.status_code == 403

    async def test_bad_slug_and_unknown_fields(self, client: httpx.AsyncClient, desk: Desk) -> None:
        for slug in ("VPN", "-vpn", "vpn_", "a b", "x" * 65, ""):
            response = await client.post(
                "/api/v1/services", json={"slug": slug, "name": "VPN"}, headers=desk.admin
            )
            assert response.status_code == 422, slug
            assert response.json()["error"]["code"] == "invalid_input"
        response = await client.post(
            "/api/v1/services",
            json={"slug": "vpn", "name": "VPN", "colour": "red"},
            headers=desk.admin,
        )
        assert response.status_code == 422
        assert "colour" in response.json()["error"]["message"]


class TestListServices:
    async def test_visibility_per_reader(self, client: httpx.AsyncClient, desk: Desk) -> None:
        await add_service(client, desk, "email", visibility="public")
        await add_service(client, desk, "erp", visibility="employees")
        await add_service(client, desk, "backup", visibility="internal")

        staff = await client.get("/api/v1/services", headers=desk.alex)
        assert {s["slug"] for s in staff.json()} == {"email", "erp", "backup"}
        employee = await client.get("/api/v1/services", headers=desk.erin)
        assert {s["slug"] for s in employee.json()} == {"email", "erp"}
        assert all(s["override_status"] is None for s in employee.json())
        anonymous = await client.get("/api/v1/services")
        assert anonymous.status_code == 401
        hidden = await client.get("/api/v1/services/backup", headers=desk.erin)
        missing = await client.get("/api/v1/services/nothing", headers=desk.erin)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == missing.json()

    async def test_status_follows_open_incidents_told_to_the_reader(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "vpn", visibility="employees")
        await open_incident(client, desk, ["vpn"], audience="internal", impact="partial_outage")
        staff = (await client.get("/api/v1/services/vpn", headers=desk.alex)).json()
        employee = (await client.get("/api/v1/services/vpn", headers=desk.erin)).json()
        # Staff know of the internal incident; employees were told nothing yet.
        assert staff["status"] == "partial_outage"
        assert employee["status"] == "operational"


class TestOverride:
    async def test_override_wins_and_is_audited(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "wifi")
        response = await client.put(
            "/api/v1/services/wifi/override",
            json={"status": "degraded_performance", "reason": "floor 3 access points flapping"},
            headers=desk.admin,
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "degraded_performance"
        cleared = await client.put(
            "/api/v1/services/wifi/override",
            json={"status": None, "reason": "fixed"},
            headers=desk.admin,
        )
        assert cleared.json()["status"] == "operational"
        audit = (await client.get("/api/v1/services/wifi/audit", headers=desk.alex)).json()
        assert [(a["action"], a["reason"]) for a in audit] == [
            ("override", "floor 3 access points flapping"),
            ("override_cleared", "fixed"),
        ]
        assert all(a["user_id"] is not None for a in audit)

    async def test_override_needs_admin_and_reason(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "wifi")
        by_agent = await client.put(
            "/api/v1/services/wifi/override",
            json={"status": "major_outage", "reason": "x"},
            headers=desk.alex,
        )
        assert by_agent.status_code == 403
        no_reason = await client.put(
            "/api/v1/services/wifi/override", json={"status": "major_outage"}, headers=desk.admin
        )
        assert no_reason.status_code == 422

    async def test_patch_changes_visibility(self, client: httpx.AsyncClient, desk: Desk) -> None:
        await add_service(client, desk, "printing", visibility="internal")
        response = await client.patch(
            "/api/v1/services/printing",
            json={"visibility": "public", "group": "Office"},
            headers=desk.admin,
        )
        assert response.status_code == 200
        assert response.json()["visibility"] == "public"
        assert response.json()["group"] == "Office"
