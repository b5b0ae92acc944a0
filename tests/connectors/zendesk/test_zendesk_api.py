"""A Zendesk account added, synced and written back through the HTTP API, against the fake.

The harness (the app on a runtime whose HTTP client is bound to the fake, an admin, the
add/sync/refuse calls) is `tests/connectors/api_support.py`; the database is the real one
of the test run (SQLite or PostgreSQL), not a mock. The fake's clock is set to the real
one, so the export's minute of lag is real time to it.
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
from tests.connectors.zendesk.fake import SUPPORT, TOKEN, URL, FakeZendesk

pytest_plugins = ["tests.connectors.api_support"]


def body(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "zendesk",
        "name": "IT Zendesk",
        "url": URL,
        "secrets": {
            "email": "socialdesk@acme.example",
            "api_token": TOKEN,
            "webhook_secret": "whsec-Zq81x",
        },
        "settings": {"group_id": str(SUPPORT)},
        "poll_interval": 30,
        **changes,
    }


@pytest.fixture
def fake() -> FakeZendesk:
    fake = FakeZendesk()
    fake.now = datetime.now(UTC) - timedelta(minutes=10)
    ticket = fake.create("VPN drops every ten minutes", "The VPN drops.")
    fake.tick(5)
    fake.comment(ticket["id"], "Which VPN client version do you use?")
    fake.comment(ticket["id"], "Probably the vpn-02 concentrator again.", public=False)
    fake.now = datetime.now(UTC)
    return fake


async def test_add_sync_and_read_the_mirror(
    api: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    rita = await requester(session, "rita@example.com", "Rita")
    added = await add(api, admin, body())
    connector = added.json()
    assert connector["secret_names"] == ["api_token", "email", "webhook_secret"]
    assert connector["remote_identity"] == f"zendesk:{URL}:group:{SUPPORT}"
    assert TOKEN not in added.text
    assert "whsec-Zq81x" not in added.text

    synced = await sync(api, admin, connector)
    assert (synced["tickets_created"], synced["events_ingested"]) == (1, 4)

    ticket = await the_ticket(api, admin, connector)
    assert (ticket["external_id"], ticket["status"]) == ("35436", "new")
    assert kinds(await timeline(api, admin, ticket)) == [
        ("ticket.created", "public"),
        ("ticket.commented", "public"),
        ("ticket.commented", "public"),
        ("ticket.commented", "internal"),
    ]
    # The requester, matched by e-mail, sees their ticket without the internal note.
    mine = await timeline(api, rita, ticket)
    assert [e["visibility"] for e in mine.json()["items"]] == ["public"] * 3
    assert "vpn-02" not in mine.text

    assert (await sync(api, admin, connector))["events_ingested"] == 0


async def test_our_write_back_is_not_ingested_twice(
    api: httpx.AsyncClient, admin: dict[str, str], fake_runtime: Runtime, fake: FakeZendesk
) -> None:
    connector = (await add(api, admin, body())).json()
    await sync(api, admin, connector)
    ticket = await the_ticket(api, admin)

    written, again = await write_back_twice(
        fake_runtime, ticket, "Looking at vpn-02 now.", "internal"
    )
    assert again.external_comment_id == written.external_comment_id
    [ours] = [c for c in fake.comments[35436] if c["body"].endswith("[sd:chat:41]")]
    assert (str(ours["id"]), ours["public"]) == (written.external_comment_id, False)

    fake.now = datetime.now(UTC) + timedelta(minutes=2)  # past the export's minute
    synced = await sync(api, admin, connector)
    assert (synced["own_writes"], synced["events_ingested"]) == (1, 0)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"secrets": {"email": "socialdesk@acme.example", "api_token": "tok-expired-77"}},
            "rejected the e-mail address and API token (401",
        ),
        ({"settings": {"group_id": "4242"}}, "no group 4242"),
        (
            {"secrets": {"email": "alex.agent@acme.example", "api_token": "agent-token-1"}},
            "Admin role",
        ),
        ({"secrets": {"email": "socialdesk@acme.example"}}, "zendesk: missing api_token"),
    ],
)
async def test_a_refused_configuration_is_not_saved(
    api: httpx.AsyncClient, admin: dict[str, str], changes: dict[str, Any], words: str
) -> None:
    answer = await refused(api, admin, body(**changes))
    assert words in answer.json()["error"]["message"]
    assert "tok-expired-77" not in answer.text


async def test_the_same_group_is_added_once(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await clash(api, admin, body(), body(name="Again", url=f"{URL}/agent/"))
