"""SQLite with two processes (a server and a worker): a transaction that reads, then
writes must not fail because the other committed in between."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.models import User


async def test_read_then_write_waits_for_the_other_writer_instead_of_failing(
    settings: Settings,
) -> None:
    if not settings.is_sqlite:
        pytest.skip("SQLite's locking; PostgreSQL has row locks")
    server, worker = create_engine(settings), create_engine(settings)  # two connections
    order: list[str] = []
    try:
        other_may_write = asyncio.Event()

        async def the_other_process() -> None:
            await other_may_write.wait()
            async with unit_of_work(create_sessionmaker(worker)) as session:
                session.add(User(email="worker@example.com", name="W", role="end_user"))
            order.append("worker committed")

        other = asyncio.create_task(the_other_process())
        async with unit_of_work(create_sessionmaker(server)) as session:
            before = await session.scalar(select(func.count()).select_from(User))
            other_may_write.set()
            await asyncio.sleep(0.3)  # the other process tries to commit meanwhile
            session.add(User(email=f"server{before}@example.com", name="S", role="end_user"))
        order.append("server committed")
        await asyncio.wait_for(other, 15)
    finally:
        await server.dispose()
        await worker.dispose()
    # the write lock was taken at BEGIN: the other waited (busy_timeout), nobody failed
    assert order == ["server committed", "worker committed"]
