"""Read receipts: who hears of a read, and the markers each viewer may see."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.receipts import DESK_KEY, Receipt, place_receipts, receipts_for
from app.db import unit_of_work
from app.models import Ticket, User

if TYPE_CHECKING:
    from tests.chat.live import ChatServer, Desk
    from tests.chat.wsclient import ChatClient

pytest_plugins = ["tests.chat.live"]


async def _post(client: ChatClient, ticket_id: int, body: str, visibility: str = "public") -> int:
    await client.send(
        type="message", ticket_id=ticket_id, body=body, visibility=visibility, client_msg_id=body
    )
    return int((await client.expect("ack", client_msg_id=body))["message_id"])


async def test_reads_reach_who_may_know_of_them(
    chat_server: ChatServer, desk: Desk, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    ticket_id = desk.ticket.id
    async with unit_of_work(committed_db) as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.followable = True  # another end user may read along
    agent, colleague, requester, follower = [
        await chat_server.client(token)
        for token in (
            desk.agent_token,
            desk.agent2_token,
            desk.requester_token,
            desk.stranger_token,
        )
    ]
    for client in (agent, colleague, requester, follower):
        await client.send(type="subscribe", ticket_id=ticket_id)
        await client.expect("subscribed")
    public = await _post(agent, ticket_id, "public reply")
    internal = await _post(agent, ticket_id, "INTERNAL note", "internal")

    # An end user's read: staff hear of it, by name; other end users do not.
    await requester.send(type="read", ticket_id=ticket_id, message_id=public)
    heard = await colleague.expect("read", user_id=desk.requester.id)
    assert (heard["name"], heard["staff"], heard["message_id"]) == ("Erin Employee", False, public)
    await follower.expect_none("read")

    # An agent's read of a public message: everyone; of an internal one: staff only.
    await colleague.send(type="read", ticket_id=ticket_id, message_id=public)
    for client in (requester, follower, agent):
        read = await client.expect("read", user_id=desk.agent2.id)
        assert (read["staff"], read["message_id"]) == (True, public)
    await colleague.send(type="read", ticket_id=ticket_id, message_id=internal)
    assert (await agent.expect("read", user_id=desk.agent2.id))["message_id"] == internal
    await requester.expect_none("read", user_id=desk.agent2.id, message_id=internal)
    await follower.roundtrip()
    assert not [f for f in follower.received if f.get("type") == "read" and not f["staff"]]
    assert internal not in [f.get("message_id") for f in requester.received if f["type"] == "read"]


async def test_markers_as_each_viewer_may_see_them(
    chat_server: ChatServer, desk: Desk, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    ticket_id = desk.ticket.id
    agent, colleague, requester = [
        await chat_server.client(token)
        for token in (desk.agent_token, desk.agent2_token, desk.requester_token)
    ]
    for client in (agent, colleague):
        await client.send(type="subscribe", ticket_id=ticket_id)
        await client.expect("subscribed")
    asked = await _post(requester, ticket_id, "it is broken")
    answer = await _post(agent, ticket_id, "try this")
    internal = await _post(agent, ticket_id, "INTERNAL known bug", "internal")

    async def markers(user: User) -> list[Receipt]:
        async with committed_db() as session:
            return await receipts_for(session, viewer=user, ticket_id=ticket_id)

    assert await markers(desk.requester) == []  # nobody from the desk has read anything
    await requester.send(type="read", ticket_id=ticket_id, message_id=answer)
    await colleague.send(type="read", ticket_id=ticket_id, message_id=internal)
    await agent.send(type="read", ticket_id=ticket_id, message_id=asked)
    await agent.expect("read", user_id=desk.agent2.id)
    await agent.expect("read", user_id=desk.requester.id)
    await colleague.expect("read", user_id=desk.agent.id)

    # Agents: everyone else, by name, where they are (the viewer's own marker is left out).
    assert await markers(desk.agent) == [
        Receipt(f"user:{desk.agent2.id}", "Bo Agent", internal),
        Receipt(f"user:{desk.requester.id}", "Erin Employee", answer),
    ]
    # The requester: one desk marker, at the latest public message at or before the
    # furthest agent's (never the internal note).
    assert await markers(desk.requester) == [Receipt(DESK_KEY, "the service desk", answer)]


def test_markers_sit_under_the_latest_shown_message_at_or_before_theirs() -> None:
    early = Receipt("user:1", "Old", 3)
    between = Receipt("user:2", "Mid", 12)
    exact = Receipt("desk", "the service desk", 20)
    placed = place_receipts([early, between, exact], [10, 20, 11])
    assert placed == {11: [between], 20: [exact]}  # `early` predates the page: left out
