"""Internal stays internal, adversarially: what an end user can never get, on any path."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.models import ChatMessage, Role, Ticket, User
from app.realtime.connection import Connection
from app.sync.ingest import IngestResult, publish_ingested
from tests.chat.wsclient import ChatClient
from tests.factories import create_event

if TYPE_CHECKING:
    from tests.chat.live import ChatServer, Desk

pytest_plugins = ["tests.chat.live"]


def _bodies(client: ChatClient) -> list[str]:
    """Every message body and timeline body this client ever received, backlogs included."""
    found: list[str] = []
    for frame in client.received:
        for entry in [frame, *frame.get("backlog", [])]:
            found.append((entry.get("message") or {}).get("body") or "")
            found.append((entry.get("entry") or {}).get("body") or "")
    return found


async def _subscribed(client: ChatClient, ticket_id: int, **extra: Any) -> dict[str, Any]:
    await client.send(type="subscribe", ticket_id=ticket_id, **extra)
    return await client.expect("subscribed", ticket_id=ticket_id)


async def test_a_ticket_the_user_may_not_see_is_not_found(
    chat_server: ChatServer, desk: Desk
) -> None:
    stranger = await chat_server.client(desk.stranger_token)
    await stranger.send(type="subscribe", ticket_id=desk.ticket.id)
    denied = await stranger.expect("error")
    await stranger.send(type="subscribe", ticket_id=desk.ticket.id + 10_000)
    missing = await stranger.expect("error")
    assert denied["code"] == missing["code"] == "not_found"
    assert denied["message"] == missing["message"]
    await stranger.send(type="message", ticket_id=desk.ticket.id, body="hi", client_msg_id="s")
    assert (await stranger.expect("error", ref="s"))["code"] == "not_found"
    await stranger.roundtrip()  # the socket stays usable


async def test_an_end_user_cannot_post_internal(
    chat_server: ChatServer, desk: Desk, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    requester = await chat_server.client(desk.requester_token)
    await requester.send(
        type="message",
        ticket_id=desk.ticket.id,
        body="let me in",
        visibility="internal",
        client_msg_id="sneaky",
    )
    error = await requester.expect("error", ref="sneaky")
    assert error["code"] == "forbidden"
    await requester.send(type="typing", ticket_id=desk.ticket.id, visibility="internal")
    assert (await requester.expect("error"))["code"] == "forbidden"
    async with committed_db() as session:
        assert (await session.execute(select(ChatMessage))).first() is None


async def test_internal_messages_reach_staff_only_live_in_backlog_and_over_http(
    chat_server: ChatServer, desk: Desk
) -> None:
    ticket_id = desk.ticket.id
    requester = await chat_server.client(desk.requester_token)
    colleague = await chat_server.client(desk.agent2_token)
    await _subscribed(requester, ticket_id)
    await _subscribed(colleague, ticket_id)
    agent = await chat_server.client(desk.agent_token)
    await agent.send(type="typing", ticket_id=ticket_id, visibility="internal")
    await agent.send(
        type="message",
        ticket_id=ticket_id,
        body="INTERNAL: the VPN concentrator is EOL",
        visibility="internal",
        client_msg_id="i1",
    )
    await agent.send(type="message", ticket_id=ticket_id, body="public reply", client_msg_id="p1")
    internal = await colleague.expect("message", body="INTERNAL: the VPN concentrator is EOL")
    await colleague.expect("typing", visibility="internal")
    await requester.expect("message", body="public reply")
    await agent.send(type="read", ticket_id=ticket_id, message_id=internal["message"]["id"])
    await colleague.expect("read", message_id=internal["message"]["id"])
    await requester.roundtrip()
    assert not any("INTERNAL" in body for body in _bodies(requester))
    assert not [f for f in requester.received if f.get("type") in ("typing", "read")]

    for since in (None, 0):
        again = await chat_server.client(desk.requester_token)
        extra = {} if since is None else {"since": since}
        backlog = (await _subscribed(again, ticket_id, **extra))["backlog"]
        assert [f["message"]["body"] for f in backlog] == ["public reply"]

    async with chat_server.http(desk.requester_token) as http:
        listed = (await http.get(f"/api/v1/tickets/{ticket_id}/messages")).json()["items"]
        assert [m["body"] for m in listed] == ["public reply"]
        internal_url = f"/api/v1/messages/{internal['message']['id']}"
        lookup = await http.patch(internal_url, json={"body": "x"})
        assert lookup.status_code == 404
    async with chat_server.http(desk.agent2_token) as http:
        listed = (await http.get(f"/api/v1/tickets/{ticket_id}/messages")).json()["items"]
        assert [m["visibility"] for m in listed] == ["internal", "public"]


async def test_ticket_timeline_entries_respect_visibility(
    chat_server: ChatServer, desk: Desk, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    ticket_id = desk.ticket.id
    requester = await chat_server.client(desk.requester_token)
    agent = await chat_server.client(desk.agent_token)
    await _subscribed(requester, ticket_id)
    await _subscribed(agent, ticket_id)
    async with unit_of_work(committed_db) as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        note = await create_event(session, ticket, visibility="internal", body="NOTE: root cause")
        public = await create_event(session, ticket, body="We are looking into it")
        publish_ingested(session, chat_server.runtime.bus, IngestResult(events=[note, public]))
    seen = await agent.expect("ticket_event", event_id=note.id)
    assert seen["entry"]["body"] == "NOTE: root cause"
    await agent.expect("ticket_event", event_id=public.id)
    arrived = await requester.expect("ticket_event", event_id=public.id)
    assert arrived["entry"]["body"] == "We are looking into it"
    await requester.roundtrip()
    assert not any("NOTE" in body for body in _bodies(requester))

    later = await chat_server.client(desk.requester_token)
    backlog = (await _subscribed(later, ticket_id))["backlog"]
    assert [f["event_id"] for f in backlog if f["type"] == "ticket_event"] == [public.id]
    staff = await chat_server.client(desk.agent_token)
    backlog = (await _subscribed(staff, ticket_id, since_event=note.id))["backlog"]
    assert [f["event_id"] for f in backlog] == [public.id]


async def test_a_requester_who_loses_the_ticket_is_unsubscribed(
    chat_server: ChatServer, desk: Desk, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    requester = await chat_server.client(desk.requester_token)
    await _subscribed(requester, desk.ticket.id)
    async with unit_of_work(committed_db) as session:
        ticket = await session.get(Ticket, desk.ticket.id)
        assert ticket is not None
        ticket.requester_user_id = desk.stranger.id  # reassigned in the ticketing system
        event = await create_event(session, ticket, kind="ticket.updated", body="moved")
        publish_ingested(session, chat_server.runtime.bus, IngestResult(events=[event]))
    await requester.expect("unsubscribed", ticket_id=desk.ticket.id, reason="not_found")
    agent = await chat_server.client(desk.agent_token)
    await agent.send(type="message", ticket_id=desk.ticket.id, body="after", client_msg_id="z")
    await agent.expect("ack", client_msg_id="z")
    await requester.roundtrip()
    assert "after" not in _bodies(requester)


class _Socket:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.scope: dict[str, object] = {}  # no server `send`: the queued path

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


@pytest.mark.parametrize("role", [Role.END_USER])
async def test_the_send_point_refuses_internal_frames_to_end_users(role: Role) -> None:
    """Even a caller that forgets the staff list cannot push internal content to them."""
    socket = _Socket()
    conn = Connection(socket, User(id=1, name="E", email="e@x", role=role), queue_frames=8)  # type: ignore[arg-type]
    conn.visible_tickets.add(5)
    assert conn.send('{"type":"message"}', "internal", 5) is False
    assert conn.send('{"type":"message"}', "secret", 5) is False  # unknown = internal
    assert conn.send('{"type":"message"}', "public", 6) is False  # a ticket not cleared
    assert conn.send('{"type":"message"}', "public", 5) is True
    await asyncio.sleep(0.01)
    await conn.aclose()
    assert socket.sent == ['{"type":"message"}']
