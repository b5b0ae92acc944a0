"""A socket opened from a ticket-link session reaches that ticket only (real server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect

from app.auth import sessions
from app.db import unit_of_work
from tests.chat.wsclient import ChatClient, ws_url
from tests.factories import create_ticket, create_user

if TYPE_CHECKING:
    from tests.chat.live import ChatServer

pytest_plugins = ["tests.chat.live"]


async def test_a_link_sessions_socket_subscribes_to_its_ticket_only(
    chat_server: ChatServer, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(committed_db) as session:
        erin, _ = await create_user(session)
        mailed = await create_ticket(session, requester=erin)
        other = await create_ticket(session, requester=erin)
        cookie, _ = await sessions.do_start_session(session, user=erin, scope_ticket_id=mailed.id)
    ws = await connect(
        ws_url(chat_server.url),
        additional_headers={"Cookie": f"{sessions.COOKIE}={cookie}", "Origin": chat_server.url},
        proxy=None,
        compression=None,
    )
    client = ChatClient(ws)
    try:
        assert (await client.expect("authenticated"))["user_id"] == erin.id
        await client.send(type="subscribe", ticket_id=mailed.id, ref="mine")
        await client.expect("subscribed", ticket_id=mailed.id)
        await client.send(type="subscribe", ticket_id=other.id, ref="other")
        assert (await client.expect("error", ref="other"))["code"] == "not_found"
        await client.send(
            type="message", ticket_id=other.id, body="hi", client_msg_id="1", ref="post"
        )
        assert (await client.expect("error", ref="post"))["code"] == "not_found"
    finally:
        await client.close()
