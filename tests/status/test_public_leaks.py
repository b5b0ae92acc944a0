"""Adversarial: what the public page, status.json and the public feeds must never contain.

One desk posts every kind of content with a marker string; the public surfaces are then
searched for every marker that is not theirs, and the feeds are parsed back (feedparser).
"""

from __future__ import annotations

from dataclasses import dataclass

import feedparser
import httpx
import pytest

from app.models import StatusUpdate
from app.policy.guard.egress import InternalContentLeak
from app.status.public.view import release
from tests.status.conftest import Desk, add_service, approve, open_incident, post_update

# Never public, never for employees.
STAFF_ONLY = [
    "INTERNAL-A-ROOTCAUSE",
    "STAFFBODY-A",
    "DRAFT-A-TEXT",
    "10.99.88.77",
    "REJECTED-A-TEXT",
    "INTERNAL-ONLY-TITLE-B",
    "INTERNAL-B-TEXT",
    "STAFF-TITLE-D",
    "Backup vault",
    "INTERNAL-E-TEXT",
    "PENDING-ONLY-TITLE-F",
    "PENDING-F-TEXT",
    "HELD-G-TITLE",
]
# For signed-in employees only.
EMPLOYEES_ONLY = ["EMPLOYEE-A-TEXT", "EMPLOYEE-TITLE-C", "EMPLOYEE-C-TEXT", "ERP suite"]
PUBLIC = ["PUBLIC-OK-1", "PUBLIC-OK-2", "PUBLIC-OK-3", "Printing issues", "Mail delays"]


@dataclass
class Published:
    incident_a: int


async def _approved(client: httpx.AsyncClient, desk: Desk, response: httpx.Response) -> None:
    assert response.status_code == 201, response.text
    assert (await approve(client, desk, response.json()["id"])).status_code == 200


async def _scenario(client: httpx.AsyncClient, desk: Desk) -> Published:
    await add_service(client, desk, "email", name="Mailbox hosting")
    await add_service(client, desk, "vpn", name="VPN")
    await add_service(client, desk, "printing", name="Printing")
    await add_service(client, desk, "erp", name="ERP suite", visibility="employees")
    await add_service(client, desk, "backup", name="Backup vault", visibility="internal")

    a = await open_incident(client, desk, ["email"], title="Mail delays", body="PUBLIC-OK-1")
    assert (await approve(client, desk, a["updates"][0]["id"])).status_code == 200
    ident = a["id"]
    assert (
        await post_update(client, desk, ident, body="INTERNAL-A-ROOTCAUSE", audience="internal")
    ).status_code == 201
    assert (
        await post_update(client, desk, ident, body="EMPLOYEE-A-TEXT", audience="employees")
    ).status_code == 201
    assert (await post_update(client, desk, ident, body="DRAFT-A-TEXT")).json()[
        "state"
    ] == "pending"
    held = await post_update(client, desk, ident, body="HELD restart 10.99.88.77")
    assert held.json()["state"] == "held"
    rejected = await post_update(client, desk, ident, body="REJECTED-A-TEXT")
    reject_url = f"/api/v1/status/updates/{rejected.json()['id']}/reject"
    assert (
        await client.post(reject_url, json={"reason": "no"}, headers=desk.bo)
    ).status_code == 200
    split = await post_update(client, desk, ident, body="STAFFBODY-A", public_body="PUBLIC-OK-2")
    await _approved(client, desk, split)

    # B: on a public service, but only ever told to staff.
    b = await open_incident(
        client, desk, ["vpn"], title="INTERNAL-ONLY-TITLE-B", body="INTERNAL-B-TEXT",
        audience="internal", impact="major_outage",
    )  # fmt: skip
    await post_update(client, desk, b["id"], body="INTERNAL-B-TEXT again", audience="internal")
    # C: employees only.
    await open_incident(
        client, desk, ["erp"], title="EMPLOYEE-TITLE-C", body="EMPLOYEE-C-TEXT",
        audience="employees", impact="partial_outage",
    )  # fmt: skip
    # D: the public gets the public title, never the staff title.
    d = await open_incident(
        client, desk, ["printing"], title="STAFF-TITLE-D", public_title="Printing issues",
        body="PUBLIC-OK-3", impact="degraded_performance",
    )  # fmt: skip
    assert (await approve(client, desk, d["updates"][0]["id"])).status_code == 200
    # E: an internal service.
    await open_incident(client, desk, ["backup"], body="INTERNAL-E-TEXT", audience="internal")
    # F: a public draft nobody approved yet; G: a held title.
    await open_incident(client, desk, ["vpn"], title="PENDING-ONLY-TITLE-F", body="PENDING-F-TEXT")
    g = await open_incident(client, desk, ["vpn"], title="HELD-G-TITLE at 10.1.2.3", body="ok")
    assert g["updates"][0]["state"] == "held"
    return Published(ident)


async def _public_surfaces(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None
) -> dict[str, str]:
    found = {}
    for path in ("/status", "/status.json", "/status/feed.atom", "/status/feed.rss"):
        response = await client.get(path, headers=headers or {})
        assert response.status_code == 200, (path, response.text)
        found[path] = response.text
    return found


def _absent(surfaces: dict[str, str], markers: list[str]) -> None:
    for path, text in surfaces.items():
        for marker in markers:
            assert marker not in text, f"{marker!r} leaked into {path}"


def _present(surfaces: dict[str, str], paths: tuple[str, ...], markers: list[str]) -> None:
    for path in paths:
        for marker in markers:
            assert marker in surfaces[path], f"{marker!r} missing from {path}"


class TestPublicSurfaces:
    async def test_anonymous_sees_public_content_only(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await _scenario(client, desk)
        surfaces = await _public_surfaces(client)
        _absent(surfaces, STAFF_ONLY + EMPLOYEES_ONLY)
        _present(surfaces, ("/status", "/status.json"), PUBLIC)
        # Service B's outage was never told to the public: VPN stays operational for them.
        assert (
            '"id":"vpn","name":"VPN","group":"Workplace","description":"The vpn service",'
            '"status":"operational"' in surfaces["/status.json"]
        )

    @pytest.mark.parametrize("kind", ["atom", "rss"])
    async def test_public_feeds_parsed_back(
        self, client: httpx.AsyncClient, desk: Desk, kind: str
    ) -> None:
        await _scenario(client, desk)
        parsed = feedparser.parse((await client.get(f"/status/feed.{kind}")).content)
        assert not parsed.bozo, parsed.bozo_exception
        texts = [
            " ".join([e.title, e.get("summary", ""), *(c.value for c in e.get("content", []))])
            for e in parsed.entries
        ]
        assert len(texts) == 3
        joined = "\n".join(texts)
        for marker in ("PUBLIC-OK-1", "PUBLIC-OK-2", "PUBLIC-OK-3", "Printing issues"):
            assert marker in joined
        for marker in STAFF_ONLY + EMPLOYEES_ONLY:
            assert marker not in joined

    async def test_employee_sees_employee_content_and_nothing_internal(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await _scenario(client, desk)
        page = (await client.get("/status", headers=desk.erin)).text
        for marker in [*EMPLOYEES_ONLY, "PUBLIC-OK-1", "PUBLIC-OK-3"]:
            assert marker in page
        for marker in STAFF_ONLY:
            assert marker not in page
        token = (await client.post("/api/v1/me/feed-token", headers=desk.erin)).json()["token"]
        feed = (await client.get(f"/status/feed.atom?token={token}")).text
        assert "EMPLOYEE-A-TEXT" in feed
        assert "EMPLOYEE-C-TEXT" in feed
        for marker in STAFF_ONLY:
            assert marker not in feed
        assert token not in feed
        # status.json is the public summary whoever asks.
        summary = (await client.get("/status.json", headers=desk.erin)).text
        for marker in STAFF_ONLY + EMPLOYEES_ONLY:
            assert marker not in summary

    async def test_staff_signed_in_get_the_employee_view_not_drafts(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await _scenario(client, desk)
        page = (await client.get("/status", headers=desk.bo)).text
        for marker in STAFF_ONLY:
            assert marker not in page

    async def test_narrowing_a_service_hides_its_incidents(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await _scenario(client, desk)
        response = await client.patch(
            "/api/v1/services/email", json={"visibility": "internal"}, headers=desk.admin
        )
        assert response.status_code == 200
        surfaces = await _public_surfaces(client)
        _absent(surfaces, ["PUBLIC-OK-1", "PUBLIC-OK-2", "Mail delays", "Mailbox hosting"])


class TestEgressWall:
    """The second wall: even a wrong query cannot hand out what is not released."""

    def _update(self, **fields: object) -> StatusUpdate:
        base: dict[str, object] = {
            "id": 1, "incident_id": 1, "audience": "public", "body": "b", "state": "published",
            "published_body": "text", "from_status": "investigating",
            "to_status": "investigating",
        }  # fmt: skip
        return StatusUpdate(**(base | fields))

    def test_released_when_published_for_the_audience(self) -> None:
        assert release(self._update(), "public", "status_page") == "text"
        assert release(self._update(audience="employees"), "employees", "feed") == "text"

    @pytest.mark.parametrize(
        ("fields", "audience"),
        [
            ({"state": "pending"}, "public"),
            ({"state": "held"}, "public"),
            ({"state": "rejected"}, "employees"),
            ({"audience": "employees"}, "public"),
            ({"audience": "internal"}, "public"),
            ({"audience": "internal"}, "employees"),
            ({"published_body": None}, "public"),
        ],
    )
    def test_refused(self, fields: dict[str, object], audience: str) -> None:
        with pytest.raises(InternalContentLeak):
            release(self._update(**fields), audience, "feed")  # type: ignore[arg-type]
