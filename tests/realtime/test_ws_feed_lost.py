"""A Redis blip must not silently drop live frames: sockets are told to resume instead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.config import Settings
from app.realtime.bus import RedisBus

if TYPE_CHECKING:
    from tests.chat.live import ChatServer, Desk

pytest_plugins = ["tests.chat.live"]
REDIS_URL = "redis://127.0.0.1:6379/0"
pytestmark = pytest.mark.integration


@pytest.fixture
async def redis_chat_server(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession]
) -> AsyncIterator[ChatServer]:
    from tests.chat.live import running_chat_server  # a plugin module: imported once registered

    bus = RedisBus(settings.redis_url or REDIS_URL)
    async with running_chat_server(settings, committed_db, bus) as chat:
        yield chat


async def _until_closed(ws: ClientConnection) -> None:
    """Read whatever was in flight until the server closes the socket (10 s at most)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed:
        return


async def test_sockets_are_told_to_resume_when_the_redis_feed_is_lost(
    redis_chat_server: ChatServer, desk: Desk
) -> None:
    ticket_id = desk.ticket.id
    requester = await redis_chat_server.client(desk.requester_token)
    await requester.send(type="subscribe", ticket_id=ticket_id)
    await requester.expect("subscribed")
    agent = await redis_chat_server.client(desk.agent_token)
    await agent.send(type="message", ticket_id=ticket_id, body="before", client_msg_id="1")
    seen = await requester.expect("message")

    probe = redis.Redis.from_url(REDIS_URL)
    try:
        assert await probe.client_kill_filter(_type="pubsub", skipme=True) >= 1
    finally:
        await probe.aclose()

    await _until_closed(requester.ws)
    assert requester.ws.close_code == 1011
    assert "resume with since" in (requester.ws.close_reason or "")

    # every socket of the process was told (their inboxes rode the same connection)
    await _until_closed(agent.ws)
    assert agent.ws.close_code == 1011

    # what was posted meanwhile is not lost: a resume from the last id brings it
    agent = await redis_chat_server.client(desk.agent_token)
    await agent.send(type="message", ticket_id=ticket_id, body="during", client_msg_id="2")
    await agent.expect("ack", client_msg_id="2")
    back = await redis_chat_server.client(desk.requester_token)
    await back.send(type="subscribe", ticket_id=ticket_id, since=seen["message"]["id"])
    subscribed = await back.expect("subscribed")
    assert [m["message"]["body"] for m in subscribed["backlog"]] == ["during"]
