"""Incidents and updates: bad input, transitions, derived status, linked tickets."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Incident, StatusUpdate
from tests.factories import create_ticket
from tests.status.conftest import Desk, add_service, open_incident, post_update


async def _counts(session: AsyncSession) -> tuple[int, int]:
    incidents = await session.scalar(select(func.count()).select_from(Incident))
    updates = await session.scalar(select(func.count()).select_from(StatusUpdate))
    return int(incidents or 0), int(updates or 0)


class TestCreateIncident:
    async def test_bad_input_is_refused_and_nothing_is_stored(
        self, client: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        await add_service(client, desk, "vpn")
        before = await _counts(session)
        good: dict[str, Any] = {
            "title": "VPN down",
            "services": [{"service": "vpn"}],
            "update": {"body": "Looking", "audience": "internal"},
        }
        cases: list[tuple[dict[str, Any], str]] = [
            ({**good, "services": [{"service": "nope"}]}, "unknown_service"),
            ({**good, "services": []}, "invalid_input"),
            ({**good, "update": {"body": "   ", "audience": "internal"}}, "invalid_input"),
            ({**good, "update": {"body": "x" * 10_001, "audience": "internal"}}, "invalid_input"),
            ({**good, "update": {"body": "ok", "audience": "everyone"}}, "invalid_input"),
            ({**good, "severity": "high"}, "invalid_input"),
            ({**good, "services": [{"service": "vpn", "impact": "maintenance"}]}, "invalid_impact"),
            ({**good, "update": {"body": "x", "status": "resolved"}}, "invalid_transition"),
            ({**good, "kind": "maintenance"}, "invalid_input"),
            ({**good, "services": [{"service": "vpn"}, {"service": "vpn"}]}, "invalid_input"),
        ]
        for payload, code in cases:
            response = await client.post(
                "/api/v1/status/incidents", json=payload, headers=desk.alex
            )
            assert response.status_code == 422, (payload, response.text)
            assert response.json()["error"]["code"] == code, payload
        assert await _counts(session) == before

    async def test_end_users_cannot_open_incidents(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "vpn")
        response = await client.post(
            "/api/v1/status/incidents",
            json={"title": "x", "services": [{"service": "vpn"}], "update": {"body": "x"}},
            headers=desk.erin,
        )
        assert response.status_code == 403

    async def test_audience_wider_than_every_service_is_refused(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "backup", visibility="internal")
        response = await client.post(
            "/api/v1/status/incidents",
            json={
                "title": "Backup job failed",
                "services": [{"service": "backup"}],
                "update": {"body": "Restarting", "audience": "public"},
            },
            headers=desk.alex,
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "audience_too_wide"

    async def test_html_is_stored_as_text(self, client: httpx.AsyncClient, desk: Desk) -> None:
        await add_service(client, desk, "vpn")
        body = '<script>alert("x")</script><img src=x onerror=alert(1)>'
        incident = await open_incident(client, desk, ["vpn"], audience="internal", body=body)
        assert incident["updates"][0]["body"] == body


class TestUpdates:
    async def test_invalid_transition_names_from_and_to(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "vpn")
        incident = await open_incident(client, desk, ["vpn"], audience="internal")
        done = await post_update(
            client, desk, incident["id"], body="Fixed", audience="internal", status="resolved"
        )
        assert done.status_code == 201
        back = await post_update(
            client, desk, incident["id"], body="Again", audience="internal", status="monitoring"
        )
        assert back.status_code == 422
        error = back.json()["error"]
        assert error["code"] == "invalid_transition"
        assert (error["details"]["from"], error["details"]["to"]) == ("resolved", "monitoring")
        wrong_kind = await post_update(
            client, desk, incident["id"], body="x", audience="internal", status="in_progress"
        )
        assert wrong_kind.status_code == 422

    async def test_unknown_incident_is_404(self, client: httpx.AsyncClient, desk: Desk) -> None:
        response = await post_update(client, desk, 999_999, body="x", audience="internal")
        assert response.status_code == 404

    async def test_service_status_is_the_worst_open_impact(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "email")
        first = await open_incident(
            client, desk, ["email"], audience="internal", impact="degraded_performance"
        )
        await open_incident(client, desk, ["email"], audience="internal", impact="partial_outage")
        status = (await client.get("/api/v1/services/email", headers=desk.alex)).json()["status"]
        assert status == "partial_outage"
        await post_update(
            client, desk, first["id"], body="ok", audience="internal", status="resolved"
        )
        status = (await client.get("/api/v1/services/email", headers=desk.alex)).json()["status"]
        assert status == "partial_outage"

    async def test_maintenance_counts_only_in_progress(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "erp")
        maintenance = await open_incident(
            client, desk, ["erp"], kind="maintenance", impact=None, audience="internal",
            extra={"scheduled_start": "2030-01-01T20:00Z", "scheduled_end": "2030-01-01T22:00Z"},
        )  # fmt: skip
        assert maintenance["status"] == "scheduled"
        assert maintenance["services"][0]["impact"] == "maintenance"
        get = await client.get("/api/v1/services/erp", headers=desk.alex)
        assert get.json()["status"] == "operational"
        started = await post_update(
            client, desk, maintenance["id"], body="go", audience="internal", status="in_progress"
        )
        assert started.status_code == 201
        get = await client.get("/api/v1/services/erp", headers=desk.alex)
        assert get.json()["status"] == "under_maintenance"
        await post_update(
            client, desk, maintenance["id"], body="done", audience="internal", status="completed"
        )
        get = await client.get("/api/v1/services/erp", headers=desk.alex)
        assert get.json()["status"] == "operational"


class TestLinkedTickets:
    async def test_link_and_closing_intent_on_resolution(
        self, client: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        await add_service(client, desk, "vpn")
        ticket = await create_ticket(session)
        await session.commit()
        incident = await open_incident(client, desk, ["vpn"], audience="internal")
        url = f"/api/v1/status/incidents/{incident['id']}/tickets"
        linked = await client.post(url, json={"ticket_id": ticket.id}, headers=desk.alex)
        assert linked.status_code == 201
        again = await client.post(url, json={"ticket_id": ticket.id}, headers=desk.alex)
        assert again.status_code == 201
        unknown = await client.post(url, json={"ticket_id": 987_654}, headers=desk.alex)
        assert unknown.status_code == 422
        assert unknown.json()["error"]["code"] == "unknown_ticket"
        by_employee = await client.post(url, json={"ticket_id": ticket.id}, headers=desk.erin)
        assert by_employee.status_code == 403

        resolved = await post_update(
            client, desk, incident["id"], body="Fixed", audience="internal", status="resolved"
        )
        links = (await client.get(url, headers=desk.alex)).json()
        assert len(links) == 1
        assert links[0]["closing_update_id"] == resolved.json()["id"]
        assert links[0]["closing_requested_at"] is not None
        assert links[0]["closing_written_at"] is None
        detail = (
            await client.get(f"/api/v1/status/incidents/{incident['id']}", headers=desk.alex)
        ).json()
        assert detail["tickets"][0]["ticket_id"] == ticket.id
