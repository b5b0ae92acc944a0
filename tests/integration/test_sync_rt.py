"""Request Tracker through the whole service: add an instance, sync, read tickets, write back.

Each test makes its own tickets in the real RT peer and adds its instance with
`sync_from=now`, so it sees only what it made (the server is shared, never empty).
The instance uses the agent's token (ShowTicket, ShowTicketComments, reply and comment).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role
from app.runtime import Runtime
from app.sync.writeback import do_write_back
from connectors.base import Visibility
from tests.factories import create_user
from tests.integration.peers import closed_port_url
from tests.integration.rt_desk import RTDesk
from tests.integration.sync_helpers import ServiceAPI, TCPProxy, admin_api, leaks

pytestmark = pytest.mark.integration


@pytest.fixture
def desk(http: httpx.AsyncClient, rt_env: dict[str, str]) -> RTDesk:
    return RTDesk(http, rt_env)


@pytest.fixture
async def api(client: httpx.AsyncClient, session: AsyncSession) -> ServiceAPI:
    return await admin_api(client, session)


def instance_body(
    env: dict[str, str], token: str, url: str | None = None, **settings: str
) -> dict[str, Any]:
    return {
        "kind": "rt",
        "name": f"RT {uuid.uuid4().hex[:6]}",
        "url": url or env["RT_URL"],
        "secrets": {"token": token},
        "settings": {"queue": env["RT_QUEUE"], "sync_from": "now", **settings},
    }


async def add(api: ServiceAPI, env: dict[str, str], url: str | None = None) -> int:
    response = await api.add(**instance_body(env, env["RT_AGENT_TOKEN"], url))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def tokens(env: dict[str, str]) -> list[str]:
    return [env[f"RT_{who}_TOKEN"] for who in ("ADMIN", "AGENT", "USER")]


def timeline_view(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["kind"], e["visibility"], e["old_value"], e["new_value"], e["body"]) for e in entries
    ]


async def test_adding_an_instance_is_checked_and_refusals_say_why(
    api: ServiceAPI, desk: RTDesk, rt_env: dict[str, str]
) -> None:
    env = rt_env
    await desk.create("user", "A ticket the customer can see")  # to test the rights on
    wrong = "1-31-" + uuid.uuid4().hex
    cases = {
        "wrong token": (instance_body(env, wrong), "401"),
        "unreachable": (instance_body(env, env["RT_AGENT_TOKEN"], closed_port_url()), "reach"),
        "missing queue": (
            instance_body(env, env["RT_AGENT_TOKEN"], queue="No-Such-Queue"),
            "No-Such-Queue",
        ),
        "missing right": (instance_body(env, env["RT_USER_TOKEN"]), "CommentOnTicket"),
    }
    messages = {}
    for case, (body, _) in cases.items():
        response = await api.add(**body)
        assert response.status_code == 422, (case, response.text)
        assert response.json()["error"]["code"] == "connector_check_failed", case
        messages[case] = response.json()["error"]["message"]
    said = {case: says in messages[case] for case, (_, says) in cases.items()}
    assert said == dict.fromkeys(cases, True), messages
    assert (await api.add(**instance_body(env, env["RT_AGENT_TOKEN"]))).status_code == 201
    # The same RT and queue again, given as its REST URL and with another token: refused.
    again = await api.add(**instance_body(env, env["RT_ADMIN_TOKEN"], env["RT_URL"] + "/REST/2.0"))
    assert again.status_code == 409, again.text
    assert leaks(api.bodies, *tokens(env), wrong) == []


async def test_tickets_history_and_new_changes_arrive_once_with_visibility_preserved(
    api: ServiceAPI, session: AsyncSession, desk: RTDesk, rt_env: dict[str, str]
) -> None:
    customer, customer_token = await create_user(session, email=rt_env["RT_USER_EMAIL"])
    agent, _ = await create_user(session, email=rt_env["RT_AGENT_EMAIL"], role=Role.AGENT)
    await session.commit()
    cid = await add(api, rt_env)
    ticket_no = await desk.create("user", "VPN does not connect")
    await desk.message("agent", ticket_no, "correspond", "Please reinstall the VPN profile.")
    await desk.message("agent", ticket_no, "comment", "Gateway cert rotated yesterday.")
    await desk.message("user", ticket_no, "correspond", "Done, works again.")
    await desk.update("agent", ticket_no, Status="resolved", Priority=80, Owner="agent")

    assert (await api.sync(cid))["error"] is None
    ticket = await api.ticket(cid, ticket_no)
    assert (ticket["status"], ticket["priority"]) == ("resolved", "P2")
    assert (ticket["requester_name"], ticket["requester_user_id"]) == ("End User", customer.id)
    assert ticket["assignee_user_id"] == agent.id
    staff_view = timeline_view(await api.timeline(ticket["id"]))
    assert staff_view == [
        ("ticket.created", "public", None, None, "VPN does not connect: details."),
        ("ticket.commented", "public", None, None, "Please reinstall the VPN profile."),
        ("ticket.status_changed", "public", "new", "open", None),  # RT's auto-open scrip
        ("ticket.commented", "internal", None, None, "Gateway cert rotated yesterday."),
        ("ticket.commented", "public", None, None, "Done, works again."),
        ("ticket.assigned", "public", None, "agent", None),
        ("ticket.priority_changed", "public", "P4", "P2", None),
        ("ticket.resolved", "public", "open", "resolved", None),
    ]
    # The requester sees the ticket and its public history only.
    theirs = await api.tickets(cid, customer_token)
    assert str(ticket_no) in [t["external_id"] for t in theirs]
    assert {t["requester_user_id"] for t in theirs} == {customer.id}
    customer_view = timeline_view(await api.timeline(ticket["id"], customer_token))
    assert customer_view == [e for e in staff_view if e[1] == "public"]

    # Changes made later arrive with the next sync, once.
    await desk.update("agent", ticket_no, Status="open")
    await desk.message("agent", ticket_no, "comment", "Reopened: check the certificate.")
    assert (await api.sync(cid))["error"] is None
    assert (await api.sync(cid))["error"] is None
    later = timeline_view(await api.timeline(ticket["id"]))
    assert later == [
        *staff_view,
        ("ticket.reopened", "public", "resolved", "open", None),
        ("ticket.commented", "internal", None, None, "Reopened: check the certificate."),
    ]
    health = (await api.connector(cid))["health"]
    assert (health["state"], health["skipped_items"]) == ("ok", 0)
    assert leaks(api.bodies, *tokens(rt_env)) == []


async def test_write_back_is_internal_by_default_and_not_ingested_again(
    runtime: Runtime, api: ServiceAPI, desk: RTDesk, rt_env: dict[str, str]
) -> None:
    cid = await add(api, rt_env)
    ticket_no = await desk.create("user", "Shared drive is read-only")
    await api.sync(cid)
    ticket = await api.ticket(cid, ticket_no)

    async def write(body: str, **kw: Any) -> Any:
        return await do_write_back(
            runtime.sessionmaker,
            box=runtime.box,
            http=runtime.http,
            ticket_id=ticket["id"],
            body=body,
            idempotency_key=f"chat:{uuid.uuid4().hex}",
            **kw,
        )

    note = await write("The NAS snapshot job holds a lock.")
    reply = await write("We are on it; back within the hour.", visibility=Visibility.PUBLIC)
    as_agent = await desk.history("agent", ticket_no)
    assert (as_agent[note.external_comment_id], as_agent[reply.external_comment_id]) == (
        "Comment",
        "Correspond",
    )
    as_customer = await desk.history("user", ticket_no)
    assert note.external_comment_id not in as_customer
    assert reply.external_comment_id in as_customer

    result = await api.sync(cid)
    assert result["own_writes"] == 2
    bodies = [e["body"] for e in await api.timeline(ticket["id"]) if e["body"]]
    assert bodies == ["Shared drive is read-only: details."]


async def test_an_outage_shows_in_health_and_the_sync_catches_up(
    api: ServiceAPI, desk: RTDesk, rt_env: dict[str, str]
) -> None:
    target = urlsplit(rt_env["RT_URL"])
    proxy = TCPProxy(target.hostname or "127.0.0.1", target.port or 80)
    await proxy.restore()
    try:
        cid = await add(api, rt_env, url=proxy.url)
        ticket_no = await desk.create("user", "Phone has no dial tone")
        assert (await api.sync(cid))["error"] is None
        await desk.message("agent", ticket_no, "comment", "Before the outage.")

        await proxy.cut()
        result = await api.sync(cid)
        assert result["error"].startswith("transient: "), result
        health = (await api.connector(cid))["health"]
        assert (health["state"], health["consecutive_failures"]) == ("failing", 1)
        tried = datetime.fromisoformat(health["last_attempt_at"])
        retry = datetime.fromisoformat(health["next_attempt_at"])
        assert 10 <= (retry - tried).total_seconds() <= 21

        await desk.message("agent", ticket_no, "comment", "During the outage.")
        await proxy.restore()
        await desk.message("agent", ticket_no, "comment", "After the outage.")
        assert (await api.sync(cid))["error"] is None
        assert (await api.sync(cid))["error"] is None
    finally:
        await proxy.cut()
    ticket = await api.ticket(cid, ticket_no)
    bodies = [e["body"] for e in await api.timeline(ticket["id"]) if e["body"]]
    assert bodies == [
        "Phone has no dial tone: details.",
        "Before the outage.",
        "During the outage.",
        "After the outage.",
    ]
    health = (await api.connector(cid))["health"]
    assert (health["state"], health["consecutive_failures"]) == ("ok", 0)
