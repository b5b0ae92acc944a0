"""Ticket-link sessions on a real server: the socket reaches that ticket only, and a reply
made from the link reaches the agent live."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect

from app.auth import sessions
from app.auth.ticket_links import PURPOSE, ticket_link
from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.signing import Signer
from app.models import Role
from tests.chat.wsclient import ChatClient, ws_url
from tests.conftest import TEST_SECRET_KEY
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


async def test_a_requester_answers_from_the_mail_link_and_the_agent_sees_it_live(
    chat_server: ChatServer, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(committed_db) as session:
        erin, _ = await create_user(session, name="Erin Employee")
        _, agent_token = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session, requester=erin)
    agent = await chat_server.client(agent_token)
    await agent.send(type="subscribe", ticket_id=ticket.id)
    await agent.expect("subscribed")
    link = ticket_link(
        Signer(TEST_SECRET_KEY, PURPOSE), chat_server.url,
        user_id=erin.id, ticket_id=ticket.id, now=utcnow(),
    )  # fmt: skip
    async with httpx.AsyncClient(base_url=chat_server.url, timeout=10) as browser:
        opened = await browser.get(link)
        assert opened.status_code == 303
        page = await browser.get(opened.headers["location"])
        csrf = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        sent = await browser.post(
            f"/api/v1/tickets/{ticket.id}/messages",
            json={"body": "It works again since this morning", "visibility": "public"},
            headers={"X-CSRF-Token": csrf},
        )
        assert sent.status_code == 201, sent.text
    live = await agent.expect("message")
    assert live["message"]["body"] == "It works again since this morning"
    assert live["message"]["author"]["id"] == erin.id
