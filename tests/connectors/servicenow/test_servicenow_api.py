"""A ServiceNow instance added, synced and written back through the HTTP API, against the fake.

The app's outbound HTTP client is `Runtime.http` (what `create_app` hands the endpoints as
`app.state.http`); here it is an `httpx.AsyncClient` on the fake's MockTransport. The
database is the real one of the test run (SQLite or PostgreSQL), not a mock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.main import create_app
from app.models import Role
from app.runtime import Runtime
from app.sync.writeback import do_write_back
from tests.conftest import make_runtime
from tests.connectors.servicenow.fake import SERVICE_DESK, URL, FakeServiceNow
from tests.factories import auth, create_user

PASSWORD = "s3cret-pass"


def body(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "servicenow",
        "name": "IT ServiceNow",
        "url": URL,
        "secrets": {"username": "socialdesk.integration", "password": PASSWORD},
        "settings": {"assignment_group": "Service Desk"},
        "poll_interval": 30,
        **changes,
    }


@pytest.fixture
def fake() -> FakeServiceNow:
    fake = FakeServiceNow()
    record = fake.create("VPN drops every ten minutes", by="abel.tuter")
    fake.tick(5)
    fake.update(record["sys_id"], comments="Which VPN client version do you use?")
    fake.update(record["sys_id"], work_notes="Probably the vpn-02 concentrator again.")
    return fake


@pytest.fixture
async def runtime(
    settings: Settings, db: async_sessionmaker[AsyncSession], fake: FakeServiceNow
) -> AsyncIterator[Runtime]:
    runtime = make_runtime(settings, db)
    await runtime.http.aclose()
    runtime.http = httpx.AsyncClient(transport=fake.transport())
    yield runtime
    await runtime.http.aclose()


@pytest.fixture
async def api(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime.settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def admin(session: AsyncSession) -> dict[str, str]:
    _, token = await create_user(session, role=Role.ADMIN)
    await session.commit()
    return auth(token)


async def test_add_sync_and_read_the_mirror(
    api: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession, fake: FakeServiceNow
) -> None:
    _, requester = await create_user(session, email="abel.tuter@example.com", name="Abel")
    await session.commit()
    added = await api.post("/api/v1/connectors", json=body(), headers=admin)
    assert added.status_code == 201, added.text
    connector = added.json()
    assert connector["secret_names"] == ["password", "username"]
    assert connector["remote_identity"].endswith(f":incident:group:{SERVICE_DESK}")
    assert PASSWORD not in added.text

    synced = await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    assert synced.status_code == 200, synced.text
    assert (synced.json()["tickets_created"], synced.json()["events_ingested"]) == (1, 3)

    listed = await api.get(f"/api/v1/tickets?connector_id={connector['id']}", headers=admin)
    [ticket] = listed.json()["items"]
    assert (ticket["external_id"], ticket["status"]) == ("INC0010001", "new")
    timeline = await api.get(f"/api/v1/tickets/{ticket['id']}/timeline", headers=admin)
    kinds = [(e["kind"], e["visibility"]) for e in timeline.json()["items"]]
    assert kinds == [
        ("ticket.created", "public"),
        ("ticket.commented", "public"),
        ("ticket.commented", "internal"),
    ]
    # The caller, matched by e-mail, sees their ticket without the work note.
    mine = await api.get(f"/api/v1/tickets/{ticket['id']}/timeline", headers=auth(requester))
    assert mine.status_code == 200, mine.text
    assert [e["visibility"] for e in mine.json()["items"]] == ["public", "public"]

    again = await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    assert again.json()["events_ingested"] == 0


async def test_our_write_back_is_not_ingested_twice(
    api: httpx.AsyncClient, admin: dict[str, str], runtime: Runtime, fake: FakeServiceNow
) -> None:
    connector = (await api.post("/api/v1/connectors", json=body(), headers=admin)).json()
    await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    [ticket] = (await api.get("/api/v1/tickets", headers=admin)).json()["items"]
    fake.tick(10)

    written = await do_write_back(
        runtime.sessionmaker,
        box=runtime.box,
        http=runtime.http,
        ticket_id=ticket["id"],
        body="The fix is rolled out.",
        idempotency_key="chat:41",
        visibility="public",
    )
    again = await do_write_back(
        runtime.sessionmaker,
        box=runtime.box,
        http=runtime.http,
        ticket_id=ticket["id"],
        body="The fix is rolled out.",
        idempotency_key="chat:41",
        visibility="public",
    )
    assert again.external_comment_id == written.external_comment_id
    entries = fake.journal(fake.rows["incident"][0]["sys_id"])
    assert [e["sys_id"] for e in entries].count(written.external_comment_id) == 1
    assert entries[-1]["value"].endswith("[sd:chat:41]")

    synced = await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    assert (synced.json()["own_writes"], synced.json()["events_ingested"]) == (1, 0)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"secrets": {"username": "socialdesk.integration", "password": "pw-Zq81x"}},
            "rejected the credentials (401",
        ),
        ({"settings": {"assignment_group": "Nobody"}}, "no assignment group with name 'Nobody'"),
        ({"settings": {}}, "servicenow: missing assignment_group"),
        ({"settings": {"assignment_group": "Service Desk", "table": "nope"}}, "no table 'nope'"),
        ({"secrets": {"token": "tok-expired-77"}}, "401"),
    ],
)
async def test_a_refused_configuration_is_not_saved(
    api: httpx.AsyncClient, admin: dict[str, str], changes: dict[str, Any], words: str
) -> None:
    refused = await api.post("/api/v1/connectors", json=body(**changes), headers=admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "connector_check_failed"
    assert words in refused.json()["error"]["message"]
    assert "pw-Zq81x" not in refused.text
    assert "tok-expired-77" not in refused.text
    listed = await api.get("/api/v1/connectors", headers=admin)
    assert listed.json() == []


async def test_the_same_group_is_added_once(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    assert (await api.post("/api/v1/connectors", json=body(), headers=admin)).status_code == 201
    by_sys_id = body(name="Again", settings={"assignment_group": SERVICE_DESK})
    clash = await api.post("/api/v1/connectors", json=by_sys_id, headers=admin)
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "connector_exists"
