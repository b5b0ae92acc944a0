"""The RT connector against the real Request Tracker peer (shared/peers/rt).

Each test makes its own tickets through RT's REST 2 API, as the customer and the agent,
and looks only at those: the server is shared and never assumed empty.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from connectors.base import (
    AuthError,
    ChangeKind,
    ConnectorConfig,
    Person,
    TicketChange,
    Visibility,
)
from connectors.rt.connector import RTConnector
from tests.integration.peers import closed_port_url
from tests.integration.rt_desk import RTDesk

pytestmark = pytest.mark.integration
PUBLIC, INTERNAL = Visibility.PUBLIC, Visibility.INTERNAL


def connector(
    http: httpx.AsyncClient, env: dict[str, str], who: str = "agent", **overrides: str
) -> RTConnector:
    config = ConnectorConfig(
        url=overrides.pop("url", env["RT_URL"]),
        secrets={"token": overrides.pop("token", env[f"RT_{who.upper()}_TOKEN"])},
        settings={"queue": env["RT_QUEUE"], **overrides},
    )
    return RTConnector(config, http)


async def drain(conn: RTConnector, cursor: str | None) -> tuple[list[TicketChange], str | None]:
    changes: list[TicketChange] = []
    for _ in range(50):
        page = await conn.changes_since(cursor)
        assert page.notes == []
        changes += page.changes
        cursor = page.cursor
        if not page.has_more:
            return changes, cursor
    raise AssertionError("changes_since never ran dry")


def of_ticket(changes: list[TicketChange], ticket_id: int) -> list[TicketChange]:
    return [c for c in changes if c.ticket.external_id == str(ticket_id)]


@pytest.fixture
def api(http: httpx.AsyncClient, rt_env: dict[str, str]) -> RTDesk:
    return RTDesk(http, rt_env)


async def test_changes_since_reports_the_ticket_history(
    api: RTDesk, http: httpx.AsyncClient, rt_env: dict[str, str]
) -> None:
    conn = connector(http, rt_env)
    start = await conn.cursor_at(datetime.now(UTC))
    ticket = await api.create("user", "VPN does not connect")
    await api.message("agent", ticket, "correspond", "Please reinstall the VPN profile.")
    await api.message("agent", ticket, "comment", "Gateway cert rotated yesterday.")
    await api.message("user", ticket, "correspond", "Done, works again.")
    await api.update("agent", ticket, Status="resolved", Priority=80, Owner="agent")
    await api.update("agent", ticket, Status="open")

    changes, cursor = await drain(conn, start)
    mine = of_ticket(changes, ticket)
    got = [(c.kind, c.visibility, c.old_value, c.new_value, c.body) for c in mine]
    assert got == [
        (ChangeKind.CREATED, PUBLIC, None, None, "VPN does not connect: details."),
        (ChangeKind.COMMENTED, PUBLIC, None, None, "Please reinstall the VPN profile."),
        (ChangeKind.STATUS_CHANGED, PUBLIC, "new", "open", None),  # RT's auto-open scrip
        (ChangeKind.COMMENTED, INTERNAL, None, None, "Gateway cert rotated yesterday."),
        (ChangeKind.COMMENTED, PUBLIC, None, None, "Done, works again."),
        (ChangeKind.ASSIGNED, PUBLIC, None, "agent", None),
        (ChangeKind.PRIORITY_CHANGED, PUBLIC, "P4", "P2", None),
        (ChangeKind.RESOLVED, PUBLIC, "open", "resolved", None),
        (ChangeKind.REOPENED, PUBLIC, "resolved", "open", None),
    ]
    actors = [c.actor.external_id if c.actor else None for c in mine]
    assert actors[:3] == ["customer", "agent", "RT_System"]
    comments = [c for c in mine if c.kind is ChangeKind.COMMENTED]
    assert all(c.source_id == f"rt:txn:{c.external_comment_id}" for c in comments)
    snap = mine[-1].ticket
    assert snap.requester == Person("customer", "End User", rt_env["RT_USER_EMAIL"])
    assert snap.assignee is not None
    assert snap.assignee.email == rt_env["RT_AGENT_EMAIL"]
    assert snap.description == "VPN does not connect: details."

    again, _ = await drain(conn, cursor)
    assert of_ticket(again, ticket) == []
    replay, _ = await drain(conn, start)  # an older cursor: the engine dedupes by source id
    assert [c.source_id for c in of_ticket(replay, ticket)] == [c.source_id for c in mine]


async def test_add_comment_public_and_internal(
    api: RTDesk, http: httpx.AsyncClient, rt_env: dict[str, str]
) -> None:
    conn = connector(http, rt_env)
    ticket = await api.create("user", "Laptop fan noisy")
    start = await conn.cursor_at(datetime.now(UTC))
    key = uuid.uuid4().hex
    public_id = await conn.add_comment(str(ticket), "We will swap it.", PUBLIC, key)
    assert await conn.add_comment(str(ticket), "We will swap it.", PUBLIC, key) == public_id
    internal_id = await conn.add_comment(str(ticket), "Order part 4711.", INTERNAL, key + "-i")

    as_agent = await api.history("agent", ticket)
    assert (as_agent[public_id], as_agent[internal_id]) == ("Correspond", "Comment")
    assert list(as_agent.values()).count("Correspond") == 1  # the retry wrote nothing
    as_customer = await api.history("user", ticket)
    assert public_id in as_customer
    assert internal_id not in as_customer

    changes, _ = await drain(conn, start)
    ours = [c for c in of_ticket(changes, ticket) if c.kind is ChangeKind.COMMENTED]
    assert [(c.external_comment_id, c.visibility, c.body) for c in ours] == [
        (public_id, PUBLIC, "We will swap it."),
        (internal_id, INTERNAL, "Order part 4711."),
    ]
    assert ours[1].payload["socialdesk_idempotency_key"] == key + "-i"


async def test_customer_token_cannot_write_internal_notes(
    api: RTDesk, http: httpx.AsyncClient, rt_env: dict[str, str]
) -> None:
    ticket = await api.create("user", "Cannot print")
    conn = connector(http, rt_env, who="user")
    with pytest.raises(AuthError, match="may not comment"):
        await conn.add_comment(str(ticket), "internal?", INTERNAL, uuid.uuid4().hex)
    reply = await conn.add_comment(str(ticket), "Still broken.", PUBLIC, uuid.uuid4().hex)
    assert (await api.history("agent", ticket))[reply] == "Correspond"


class TestCheck:
    async def test_agent_token(self, http: httpx.AsyncClient, rt_env: dict[str, str]) -> None:
        health = await connector(http, rt_env).check()
        assert health.ok, health.detail
        assert health.remote_identity is not None
        assert health.remote_identity.startswith(f"rt:{rt_env['RT_URL']}:queue:")

    async def test_rest_url_gives_the_same_identity(
        self, http: httpx.AsyncClient, rt_env: dict[str, str]
    ) -> None:
        rest = connector(http, rt_env, url=rt_env["RT_URL"] + "/REST/2.0/")
        assert (await rest.check()).remote_identity == (
            await connector(http, rt_env).check()
        ).remote_identity

    async def test_customer_token_lacks_comment_right(
        self, api: RTDesk, http: httpx.AsyncClient, rt_env: dict[str, str]
    ) -> None:
        await api.create("user", "Check my rights")
        health = await connector(http, rt_env, who="user").check()
        assert (health.authenticated, health.permissions_ok) == (True, False)
        assert "CommentOnTicket" in health.detail

    async def test_wrong_token(self, http: httpx.AsyncClient, rt_env: dict[str, str]) -> None:
        health = await connector(http, rt_env, token="1-31-0123456789abcdef").check()
        assert (health.reachable, health.authenticated) == (True, False)
        assert "401" in health.detail

    async def test_unreachable(self, http: httpx.AsyncClient, rt_env: dict[str, str]) -> None:
        health = await connector(http, rt_env, url=closed_port_url()).check()
        assert not health.reachable
        assert "cannot reach RT" in health.detail

    async def test_unknown_queue(self, http: httpx.AsyncClient, rt_env: dict[str, str]) -> None:
        health = await connector(http, rt_env, queue="No-Such-Queue").check()
        assert (health.authenticated, health.permissions_ok) == (True, False)
        assert "does not exist or" in health.detail
