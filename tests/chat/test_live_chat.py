"""An agent and the requester chat live on a ticket over the socket."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import ChatMessage

if TYPE_CHECKING:
    from tests.chat.live import ChatServer, Desk

pytest_plugins = ["tests.chat.live"]


async def test_agent_and_requester_chat_live(chat_server: ChatServer, desk: Desk) -> None:
    agent = await chat_server.client(desk.agent_token)
    requester = await chat_server.client(desk.requester_token)
    ticket_id = desk.ticket.id
    for client in (agent, requester):
        await client.send(type="subscribe", ticket_id=ticket_id)
        subscribed = await client.expect("subscribed", ticket_id=ticket_id)
        assert subscribed["backlog"] == []

    await requester.send(
        type="message", ticket_id=ticket_id, body="My **VPN** is down", client_msg_id="r-1"
    )
    ack = await requester.expect("ack", client_msg_id="r-1")
    heard = await agent.expect("message", body="My **VPN** is down")
    assert heard["message"]["id"] == ack["message_id"]
    assert heard["message"]["body"] == "My **VPN** is down"
    assert heard["message"]["html"] == "<p>My <strong>VPN</strong> is down</p>\n"
    assert heard["message"]["author"] == {"id": desk.requester.id, "name": "Erin Employee"}
    assert heard["message"]["visibility"] == "public"

    await agent.send(type="message", ticket_id=ticket_id, body="On it", client_msg_id="a-1")
    reply = await requester.expect("message", body="On it")
    assert reply["message"]["id"] > ack["message_id"]


async def test_a_message_is_stored_before_it_is_acknowledged(
    chat_server: ChatServer, desk: Desk, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    agent = await chat_server.client(desk.agent_token)
    await agent.send(type="message", ticket_id=desk.ticket.id, body="noted", client_msg_id="x")
    ack = await agent.expect("ack", client_msg_id="x")
    async with committed_db() as session:
        stored = await session.get(ChatMessage, ack["message_id"])
    assert stored is not None
    assert stored.body == "noted"


async def test_a_retried_send_creates_one_message(
    chat_server: ChatServer, desk: Desk, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    agent = await chat_server.client(desk.agent_token)
    for _ in range(3):
        await agent.send(type="message", ticket_id=desk.ticket.id, body="once", client_msg_id="k")
    acks = [await agent.expect("ack", client_msg_id="k") for _ in range(3)]
    assert len({a["message_id"] for a in acks}) == 1
    # a retry on a new connection (after a lost ack) finds the same message
    again = await chat_server.client(desk.agent_token)
    await again.send(type="message", ticket_id=desk.ticket.id, body="once", client_msg_id="k")
    late = await again.expect("ack", client_msg_id="k")
    assert late["message_id"] == acks[0]["message_id"]
    assert late["duplicate"] is True
    async with committed_db() as session:
        rows = (await session.execute(select(ChatMessage))).scalars().all()
    assert [m.body for m in rows] == ["once"]


async def test_reconnect_with_since_gets_exactly_the_missed_messages_in_order(
    chat_server: ChatServer, desk: Desk
) -> None:
    ticket_id = desk.ticket.id
    requester = await chat_server.client(desk.requester_token)
    await requester.send(type="subscribe", ticket_id=ticket_id)
    await requester.expect("subscribed")
    agent = await chat_server.client(desk.agent_token)
    await agent.send(type="message", ticket_id=ticket_id, body="first", client_msg_id="1")
    seen = await requester.expect("message", body="first")
    await requester.close()

    for n in range(2, 6):
        await agent.send(type="message", ticket_id=ticket_id, body=f"m{n}", client_msg_id=str(n))
        await agent.expect("ack", client_msg_id=str(n))
    await agent.send(
        type="message", ticket_id=ticket_id, body="secret", visibility="internal", client_msg_id="i"
    )
    await agent.expect("ack", client_msg_id="i")

    back = await chat_server.client(desk.requester_token)
    await back.send(type="subscribe", ticket_id=ticket_id, since=seen["message"]["id"])
    subscribed = await back.expect("subscribed")
    bodies = [f["message"]["body"] for f in subscribed["backlog"] if f["type"] == "message"]
    assert bodies == ["m2", "m3", "m4", "m5"]
    ids = [f["message"]["id"] for f in subscribed["backlog"]]
    assert ids == sorted(ids)
    assert subscribed["has_more"] is False
    # and live again afterwards
    await agent.send(type="message", ticket_id=ticket_id, body="live", client_msg_id="6")
    await back.expect("message", body="live")


async def test_edits_deletions_reads_and_typing_reach_the_room(
    chat_server: ChatServer, desk: Desk
) -> None:
    ticket_id = desk.ticket.id
    requester = await chat_server.client(desk.requester_token)
    agent = await chat_server.client(desk.agent_token)
    for client in (requester, agent):
        await client.send(type="subscribe", ticket_id=ticket_id)
        await client.expect("subscribed")
    await agent.send(type="typing", ticket_id=ticket_id)
    typing = await requester.expect("typing")
    assert (typing["user_id"], typing["name"]) == (desk.agent.id, "Alex Agent")
    await agent.send(type="message", ticket_id=ticket_id, body="rebot it", client_msg_id="1")
    message_id = (await agent.expect("ack", client_msg_id="1"))["message_id"]

    async with chat_server.http(desk.agent_token) as http:
        url = f"/api/v1/messages/{message_id}"
        assert (await http.patch(url, json={"body": "reboot it"})).status_code == 200
        updated = await requester.expect("message_updated")
        assert updated["message"]["body"] == "reboot it"
        assert updated["message"]["edited_at"] is not None
        assert (await http.delete(url)).status_code == 204
        deleted = await requester.expect("message_deleted")
        assert deleted["message_id"] == message_id

    await requester.send(type="read", ticket_id=ticket_id, message_id=message_id)
    read = await agent.expect("read", user_id=desk.requester.id)
    assert read["message_id"] == message_id
    again = await chat_server.client(desk.requester_token)
    await again.send(type="subscribe", ticket_id=ticket_id)
    subscribed = await again.expect("subscribed")
    assert subscribed["last_read_message_id"] == message_id
    assert subscribed["backlog"][0]["message"]["deleted_at"] is not None
    assert subscribed["backlog"][0]["message"]["body"] == ""


async def test_concurrent_senders_get_one_order_that_everyone_sees(
    chat_server: ChatServer, desk: Desk
) -> None:
    ticket_id = desk.ticket.id
    watchers = [await chat_server.client(t) for t in (desk.agent2_token, desk.requester_token)]
    for watcher in watchers:
        await watcher.send(type="subscribe", ticket_id=ticket_id)
        await watcher.expect("subscribed")
    senders = [await chat_server.client(t) for t in (desk.agent_token, desk.admin_token)]
    for n in range(10):
        for i, sender in enumerate(senders):
            await sender.send(
                type="message", ticket_id=ticket_id, body=f"{i}-{n}", client_msg_id=f"{i}-{n}"
            )
    acked = [
        (await s.expect("ack", client_msg_id=f"{i}-{n}"))["message_id"]
        for i, s in enumerate(senders)
        for n in range(10)
    ]
    assert len(set(acked)) == 20
    orders = []
    for watcher in watchers:
        frames = [await watcher.expect("message") for _ in range(20)]
        orders.append([f["message"]["id"] for f in frames])
    assert orders[0] == orders[1] == sorted(acked)
