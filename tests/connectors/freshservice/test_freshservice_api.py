"""A Freshservice account added, synced and written back through the HTTP API, on the fake.

The app's outbound HTTP client is `Runtime.http` (what `create_app` hands the endpoints as
`app.state.http`); here it is an `httpx.AsyncClient` on the fake's MockTransport. The
database is the real one of the test run (SQLite or PostgreSQL), not a mock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
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
from tests.connectors.freshservice.fake import IT, KEY, URL, FakeFreshservice
from tests.factories import auth, create_user


def body(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "freshservice",
        "name": "IT Freshservice",
        "url": URL,
        "secrets": {"api_key": KEY},
        "settings": {"workspace_id": str(IT)},
        "poll_interval": 30,
        **changes,
    }


@pytest.fixture
def fake() -> FakeFreshservice:
    fake = FakeFreshservice()
    fake.now = datetime.now(UTC) - timedelta(minutes=10)
    ticket = fake.create("VPN drops every ten minutes", "The VPN drops.")
    fake.tick(5)
    fake.reply(ticket["id"], "Which VPN client version do you use?")
    fake.tick(1)
    fake.note(ticket["id"], "Probably the vpn-02 concentrator again.")
    fake.now = datetime.now(UTC)
    return fake


@pytest.fixture
async def runtime(
    settings: Settings, db: async_sessionmaker[AsyncSession], fake: FakeFreshservice
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
    api: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    _, requester = await create_user(session, email="rita@example.com", name="Rita")
    await session.commit()
    added = await api.post("/api/v1/connectors", json=body(), headers=admin)
    assert added.status_code == 201, added.text
    connector = added.json()
    assert connector["secret_names"] == ["api_key"]
    assert connector["remote_identity"] == f"freshservice:{URL}:workspace:{IT}"
    assert KEY not in added.text

    synced = await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    assert synced.status_code == 200, synced.text
    assert (synced.json()["tickets_created"], synced.json()["events_ingested"]) == (1, 3)

    listed = await api.get(f"/api/v1/tickets?connector_id={connector['id']}", headers=admin)
    [ticket] = listed.json()["items"]
    assert (ticket["external_id"], ticket["status"], ticket["priority"]) == ("10", "new", "P4")
    timeline = await api.get(f"/api/v1/tickets/{ticket['id']}/timeline", headers=admin)
    kinds = [(e["kind"], e["visibility"]) for e in timeline.json()["items"]]
    assert kinds == [
        ("ticket.created", "public"),
        ("ticket.commented", "public"),
        ("ticket.commented", "internal"),
    ]
    # The requester, matched by e-mail, sees their ticket without the private note.
    mine = await api.get(f"/api/v1/tickets/{ticket['id']}/timeline", headers=auth(requester))
    assert mine.status_code == 200, mine.text
    assert [e["visibility"] for e in mine.json()["items"]] == ["public"] * 2
    assert "vpn-02" not in mine.text

    again = await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    assert again.json()["events_ingested"] == 0


async def test_our_write_back_is_not_ingested_twice(
    api: httpx.AsyncClient, admin: dict[str, str], runtime: Runtime, fake: FakeFreshservice
) -> None:
    connector = (await api.post("/api/v1/connectors", json=body(), headers=admin)).json()
    await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    [ticket] = (await api.get("/api/v1/tickets", headers=admin)).json()["items"]

    async def write() -> Any:
        return await do_write_back(
            runtime.sessionmaker,
            box=runtime.box,
            http=runtime.http,
            ticket_id=ticket["id"],
            body="Looking at vpn-02 now.",
            idempotency_key="chat:41",
            visibility="internal",
        )

    written, again = await write(), await write()
    assert again.external_comment_id == written.external_comment_id
    [ours] = [c for c in fake.conversations[10] if "[sd:chat:41]" in c["body"]]
    assert (str(ours["id"]), ours["private"]) == (written.external_comment_id, True)

    fake.tick(5)
    synced = await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    assert (synced.json()["own_writes"], synced.json()["events_ingested"]) == (1, 0)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"secrets": {"api_key": "key-expired-77"}}, "rejected the API key (401"),
        ({"settings": {"workspace_id": "4242"}}, "no workspace 4242"),
        ({"secrets": {"api_key": "no-ticket-role-key"}}, "role that may view"),
        ({"secrets": {}}, "freshservice: missing api_key"),
    ],
)
async def test_a_refused_configuration_is_not_saved(
    api: httpx.AsyncClient, admin: dict[str, str], changes: dict[str, Any], words: str
) -> None:
    refused = await api.post("/api/v1/connectors", json=body(**changes), headers=admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "connector_check_failed"
    assert words in refused.json()["error"]["message"]
    assert "key-expired-77" not in refused.text
    listed = await api.get("/api/v1/connectors", headers=admin)
    assert listed.json() == []


async def test_the_same_workspace_is_added_once(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    assert (await api.post("/api/v1/connectors", json=body(), headers=admin)).status_code == 201
    clash = await api.post(
        "/api/v1/connectors", json=body(name="Again", url=f"{URL}/a/tickets"), headers=admin
    )
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "connector_exists"
