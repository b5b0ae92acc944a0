"""A Freshservice account added, synced and written back through the HTTP API, on the fake.

The harness (the app on a runtime whose HTTP client is bound to the fake, an admin, the
add/sync/refuse calls) is `tests/connectors/api_support.py`; the database is the real one
of the test run (SQLite or PostgreSQL), not a mock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
from tests.connectors.freshservice.fake import IT, KEY, URL, FakeFreshservice

pytest_plugins = ["tests.connectors.api_support"]


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


async def test_add_sync_and_read_the_mirror(
    api: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    rita = await requester(session, "rita@example.com", "Rita")
    added = await add(api, admin, body())
    connector = added.json()
    assert connector["secret_names"] == ["api_key"]
    assert connector["remote_identity"] == f"freshservice:{URL}:workspace:{IT}"
    assert KEY not in added.text

    synced = await sync(api, admin, connector)
    assert (synced["tickets_created"], synced["events_ingested"]) == (1, 3)

    ticket = await the_ticket(api, admin, connector)
    assert (ticket["external_id"], ticket["status"], ticket["priority"]) == ("10", "new", "P4")
    assert kinds(await timeline(api, admin, ticket)) == [
        ("ticket.created", "public"),
        ("ticket.commented", "public"),
        ("ticket.commented", "internal"),
    ]
    # The requester, matched by e-mail, sees their ticket without the private note.
    mine = await timeline(api, rita, ticket)
    assert [e["visibility"] for e in mine.json()["items"]] == ["public"] * 2
    assert "vpn-02" not in mine.text

    assert (await sync(api, admin, connector))["events_ingested"] == 0


async def test_our_write_back_is_not_ingested_twice(
    api: httpx.AsyncClient, admin: dict[str, str], fake_runtime: Runtime, fake: FakeFreshservice
) -> None:
    connector = (await add(api, admin, body())).json()
    await sync(api, admin, connector)
    ticket = await the_ticket(api, admin)

    written, again = await write_back_twice(
        fake_runtime, ticket, "Looking at vpn-02 now.", "internal"
    )
    assert again.external_comment_id == written.external_comment_id
    [ours] = [c for c in fake.conversations[10] if "[sd:chat:41]" in c["body"]]
    assert (str(ours["id"]), ours["private"]) == (written.external_comment_id, True)

    fake.tick(5)
    synced = await sync(api, admin, connector)
    assert (synced["own_writes"], synced["events_ingested"]) == (1, 0)


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
    answer = await refused(api, admin, body(**changes))
    assert words in answer.json()["error"]["message"]
    assert "key-expired-77" not in answer.text


async def test_the_same_workspace_is_added_once(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await clash(api, admin, body(), body(name="Again", url=f"{URL}/a/tickets"))
