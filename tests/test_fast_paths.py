"""The hot paths lean on private parts of uvicorn and SQLAlchemy's asyncpg adapter, with a
slower public fallback if those move. These tests fail when an upgrade makes a fast path
fall back silently (the lock file pins versions; these say when a new pin costs speed)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.bulk_insert import _asyncpg_transaction_open
from app.realtime.hub import get_hub

if TYPE_CHECKING:
    from tests.chat.live import ChatServer, Desk

pytest_plugins = ["tests.chat.live"]


async def test_sockets_served_by_uvicorn_take_the_direct_frame_path(
    chat_server: ChatServer, desk: Desk
) -> None:
    client = await chat_server.client(desk.agent_token)
    hub = get_hub(chat_server.app)
    for _ in range(50):
        if hub.connections:
            break
        await asyncio.sleep(0.02)
    (connection,) = hub.connections
    # None means frames go through ASGI's send, one task switch and copy per recipient.
    assert connection._protocol is not None, "uvicorn's sans-I/O protocol was not reachable"
    await client.close()


async def test_the_asyncpg_bulk_path_sees_the_adapters_transaction(
    committed_db: async_sessionmaker[AsyncSession],
) -> None:
    async with committed_db() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("the asyncpg bulk path exists on PostgreSQL only")
        await session.execute(text("SELECT 1"))
        raw = await (await session.connection()).get_raw_connection()
        # False here sends every bulk insert through SQLAlchemy Core (several times slower).
        assert _asyncpg_transaction_open(raw)
        adapter = type(raw.dbapi_connection)
        assert hasattr(adapter, "_handle_exception_no_connection"), "errors would stay raw"
        await session.rollback()
