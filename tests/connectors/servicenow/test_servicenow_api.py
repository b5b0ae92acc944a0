"""A ServiceNow instance added, synced and written back through the HTTP API, against the fake.

The harness (the app on a runtime whose HTTP client is bound to the fake, an admin, the
add/sync/refuse calls) is `tests/connectors/api_support.py`; the database is the real one
of the test run (SQLite or PostgreSQL), not a mock.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.runtime import Runtime
from tests.connectors.api_support import (
    add,
    clash,
    kinds,
    refused,
    requester,
    sync,
    the_ticket,
    timeline,
    write_back_twice,
)
from tests.connectors.servicenow.fake import SERVICE_DESK, URL, FakeServiceNow

pytest_plugins = ["tests.connectors.api_support"]

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


async def test_add_sync_and_read_the_mirror(
    api: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession, fake: FakeServiceNow
) -> None:
    caller = await requester(session, "abel.tuter@example.com", "Abel")
    added = await add(api, admin, body())
    connector = added.json()
    assert connector["secret_names"] == ["password", "username"]
    assert connector["remote_identity"].endswith(f":incident:group:{SERVICE_DESK}")
    assert PASSWORD not in added.text

    synced = await sync(api, admin, connector)
    assert (synced["tickets_created"], synced["events_ingested"]) == (1, 3)

    ticket = await the_ticket(api, admin, connector)
    assert (ticket["external_id"], ticket["status"]) == ("INC0010001", "new")
    assert kinds(await timeline(api, admin, ticket)) == [
        ("ticket.created", "public"),
        ("ticket.commented", "public"),
        ("ticket.commented", "internal"),
    ]
    # The caller, matched by e-mail, sees their ticket without the work note.
    mine = await timeline(api, caller, ticket)
    assert [e["visibility"] for e in mine.json()["items"]] == ["public", "public"]

    assert (await sync(api, admin, connector))["events_ingested"] == 0


async def test_our_write_back_is_not_ingested_twice(
    api: httpx.AsyncClient, admin: dict[str, str], fake_runtime: Runtime, fake: FakeServiceNow
) -> None:
    connector = (await add(api, admin, body())).json()
    await sync(api, admin, connector)
    ticket = await the_ticket(api, admin)
    fake.tick(10)

    written, again = await write_back_twice(
        fake_runtime, ticket, "The fix is rolled out.", "public"
    )
    assert again.external_comment_id == written.external_comment_id
    entries = fake.journal(fake.rows["incident"][0]["sys_id"])
    assert [e["sys_id"] for e in entries].count(written.external_comment_id) == 1
    assert entries[-1]["value"].endswith("[sd:chat:41]")

    synced = await sync(api, admin, connector)
    assert (synced["own_writes"], synced["events_ingested"]) == (1, 0)


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
    answer = await refused(api, admin, body(**changes))
    assert words in answer.json()["error"]["message"]
    assert "pw-Zq81x" not in answer.text
    assert "tok-expired-77" not in answer.text


async def test_the_same_group_is_added_once(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    by_sys_id = body(name="Again", settings={"assignment_group": SERVICE_DESK})
    await clash(api, admin, body(), by_sys_id)
