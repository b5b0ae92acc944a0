"""A Jira Service Management site added, synced and written back through the HTTP API,
against the fake. The app's outbound HTTP client (`Runtime.http`) is an `httpx.AsyncClient`
on the fake's MockTransport; the database is the real one of the test run."""

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
from tests.connectors.jira_sm.fake import DESK, TOKEN, URL, FakeJira
from tests.factories import auth, create_user


def body(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "jira_sm",
        "name": "IT Jira",
        "url": URL,
        "secrets": {"email": "socialdesk@example.com", "api_token": TOKEN},
        "settings": {"project": "ITSD", "service_desk_id": DESK},
        "poll_interval": 30,
        **changes,
    }


@pytest.fixture
def fake() -> FakeJira:
    fake = FakeJira()
    fake.create("VPN drops every ten minutes", by="fred")
    fake.tick(5)
    fake.comment("ITSD-1", "Which VPN client version do you use?", public=True)
    fake.comment("ITSD-1", "Probably the vpn-02 concentrator again.", public=False)
    return fake


@pytest.fixture
async def runtime(
    settings: Settings, db: async_sessionmaker[AsyncSession], fake: FakeJira
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
    _, requester = await create_user(session, email="fred@example.com", name="Fred")
    await session.commit()
    added = await api.post("/api/v1/connectors", json=body(), headers=admin)
    assert added.status_code == 201, added.text
    connector = added.json()
    assert connector["secret_names"] == ["api_token", "email"]
    assert connector["remote_identity"] == f"jira_sm:{URL}:servicedesk:{DESK}"
    assert TOKEN not in added.text

    synced = await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    assert synced.status_code == 200, synced.text
    assert (synced.json()["tickets_created"], synced.json()["events_ingested"]) == (1, 3)

    listed = await api.get(f"/api/v1/tickets?connector_id={connector['id']}", headers=admin)
    [ticket] = listed.json()["items"]
    assert (ticket["external_id"], ticket["status"]) == ("ITSD-1", "open")
    timeline = await api.get(f"/api/v1/tickets/{ticket['id']}/timeline", headers=admin)
    kinds = [(e["kind"], e["visibility"]) for e in timeline.json()["items"]]
    assert kinds == [
        ("ticket.created", "public"),
        ("ticket.commented", "public"),
        ("ticket.commented", "internal"),
    ]
    # The reporter, matched by e-mail, sees their request without the internal comment.
    mine = await api.get(f"/api/v1/tickets/{ticket['id']}/timeline", headers=auth(requester))
    assert mine.status_code == 200, mine.text
    assert [e["visibility"] for e in mine.json()["items"]] == ["public", "public"]

    again = await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    assert again.json()["events_ingested"] == 0


async def test_our_write_back_is_not_ingested_twice(
    api: httpx.AsyncClient, admin: dict[str, str], runtime: Runtime, fake: FakeJira
) -> None:
    connector = (await api.post("/api/v1/connectors", json=body(), headers=admin)).json()
    await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    [ticket] = (await api.get("/api/v1/tickets", headers=admin)).json()["items"]
    fake.tick(10)
    written = [
        await do_write_back(
            runtime.sessionmaker,
            box=runtime.box,
            http=runtime.http,
            ticket_id=ticket["id"],
            body="Looking into it.",
            idempotency_key="chat:41",
            visibility="internal",
        )
        for _ in range(2)
    ]
    assert written[0].external_comment_id == written[1].external_comment_id
    mine = [c for c in fake.comments["10001"] if c["id"] == written[0].external_comment_id]
    assert [c["public"] for c in mine] == [False]

    synced = await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    assert (synced.json()["own_writes"], synced.json()["events_ingested"]) == (1, 0)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"secrets": {"email": "socialdesk@example.com", "api_token": "tok-Zq81x"}},
            "rejected the credentials (401",
        ),
        ({"settings": {"project": "ITSD", "service_desk_id": "99"}}, "no service desk"),
        ({"settings": {"project": "ITSD"}}, "jira_sm: missing service_desk_id"),
    ],
)
async def test_a_refused_configuration_is_not_saved(
    api: httpx.AsyncClient, admin: dict[str, str], changes: dict[str, Any], words: str
) -> None:
    refused = await api.post("/api/v1/connectors", json=body(**changes), headers=admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "connector_check_failed"
    assert words in refused.json()["error"]["message"]
    assert "tok-Zq81x" not in refused.text
    assert (await api.get("/api/v1/connectors", headers=admin)).json() == []
