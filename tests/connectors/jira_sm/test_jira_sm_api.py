"""A Jira Service Management site added, synced and written back through the HTTP API,
against the fake. The harness (the app on a runtime whose HTTP client is bound to the fake,
an admin, the add/sync/refuse calls) is `tests/connectors/api_support.py`; the database is
the real one of the test run."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.runtime import Runtime
from tests.connectors.api_support import (
    add,
    kinds,
    refused,
    requester,
    sync,
    the_ticket,
    timeline,
    write_back_twice,
)
from tests.connectors.jira_sm.fake import DESK, TOKEN, URL, FakeJira

pytest_plugins = ["tests.connectors.api_support"]


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


async def test_add_sync_and_read_the_mirror(
    api: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    reporter = await requester(session, "fred@example.com", "Fred")
    added = await add(api, admin, body())
    connector = added.json()
    assert connector["secret_names"] == ["api_token", "email"]
    assert connector["remote_identity"] == f"jira_sm:{URL}:servicedesk:{DESK}"
    assert TOKEN not in added.text

    synced = await sync(api, admin, connector)
    assert (synced["tickets_created"], synced["events_ingested"]) == (1, 3)

    ticket = await the_ticket(api, admin, connector)
    assert (ticket["external_id"], ticket["status"]) == ("ITSD-1", "open")
    assert kinds(await timeline(api, admin, ticket)) == [
        ("ticket.created", "public"),
        ("ticket.commented", "public"),
        ("ticket.commented", "internal"),
    ]
    # The reporter, matched by e-mail, sees their request without the internal comment.
    mine = await timeline(api, reporter, ticket)
    assert [e["visibility"] for e in mine.json()["items"]] == ["public", "public"]

    assert (await sync(api, admin, connector))["events_ingested"] == 0


async def test_our_write_back_is_not_ingested_twice(
    api: httpx.AsyncClient, admin: dict[str, str], fake_runtime: Runtime, fake: FakeJira
) -> None:
    connector = (await add(api, admin, body())).json()
    await sync(api, admin, connector)
    ticket = await the_ticket(api, admin)
    fake.tick(10)
    written = await write_back_twice(fake_runtime, ticket, "Looking into it.", "internal")
    assert written[0].external_comment_id == written[1].external_comment_id
    mine = [c for c in fake.comments["10001"] if c["id"] == written[0].external_comment_id]
    assert [c["public"] for c in mine] == [False]

    synced = await sync(api, admin, connector)
    assert (synced["own_writes"], synced["events_ingested"]) == (1, 0)


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
    answer = await refused(api, admin, body(**changes))
    assert words in answer.json()["error"]["message"]
    assert "tok-Zq81x" not in answer.text
