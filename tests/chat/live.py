"""Live chat fixtures: a real uvicorn server on the test loop, and a desk of people.

The server runs on `committed_db` (real commits: the server's sessions and the test's
must see each other) with the in-process bus. Test modules load this file with
`pytest_plugins = ["tests.chat.live"]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.limits import ChatLimits, SendRateLimiter
from app.config import Settings
from app.db import unit_of_work
from app.main import create_app
from app.models import Role, Ticket, User
from app.realtime.bus import Bus
from app.realtime.hub import get_hub
from app.runtime import Runtime
from tests.chat.wsclient import ChatClient, open_client
from tests.conftest import make_runtime
from tests.factories import create_ticket, create_user


@dataclass
class ChatServer:
    url: str
    app: FastAPI
    runtime: Runtime
    clients: list[ChatClient] = field(default_factory=list)

    async def client(self, token: str, **kwargs: Any) -> ChatClient:
        client = await open_client(self.url, token, **kwargs)
        self.clients.append(client)
        return client

    def http(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def use_limits(self, limits: ChatLimits) -> None:
        hub = get_hub(self.app)
        hub.limits = limits
        hub.limiter = SendRateLimiter(limits.send_rate, limits.send_burst)


async def serve(app: FastAPI) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """uvicorn as in `socialdesk serve` (sansio websockets, no compression), on a free port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, ws="websockets-sansio", ws_per_message_deflate=False, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task, f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def running_chat_server(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession], bus: Bus | None = None
) -> AsyncIterator[ChatServer]:
    """The app served by uvicorn on the app's own sessions (on `bus` when given, which it
    connects and disconnects); its clients are closed afterwards."""
    runtime = make_runtime(settings, committed_db)
    if bus is not None:
        runtime.bus = bus
        await bus.connect()
    app = create_app(settings, runtime=runtime)
    server, task, url = await serve(app)
    chat = ChatServer(url, app, runtime)
    try:
        yield chat
    finally:
        for client in chat.clients:
            await client.ws.close()
        server.should_exit = True
        await task
        if bus is not None:
            await bus.disconnect()
        await runtime.http.aclose()


@pytest.fixture
async def chat_server(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession]
) -> AsyncIterator[ChatServer]:
    async with running_chat_server(settings, committed_db) as chat:
        yield chat


@dataclass
class Desk:
    """Two agents, an admin, the requester of `ticket` and an unrelated end user."""

    agent: User
    agent_token: str
    agent2: User
    agent2_token: str
    admin: User
    admin_token: str
    requester: User
    requester_token: str
    stranger: User
    stranger_token: str
    ticket: Ticket


@pytest.fixture
async def desk(committed_db: async_sessionmaker[AsyncSession]) -> Desk:
    async with unit_of_work(committed_db) as session:
        agent, agent_token = await create_user(session, role=Role.AGENT, name="Alex Agent")
        agent2, agent2_token = await create_user(session, role=Role.AGENT, name="Bo Agent")
        admin, admin_token = await create_user(session, role=Role.ADMIN, name="Ada Admin")
        requester, requester_token = await create_user(session, name="Erin Employee")
        stranger, stranger_token = await create_user(session, name="Sam Stranger")
        ticket = await create_ticket(session, requester=requester)
    return Desk(
        agent,
        agent_token,
        agent2,
        agent2_token,
        admin,
        admin_token,
        requester,
        requester_token,
        stranger,
        stranger_token,
        ticket,
    )
