"""Workers sleep while there is nothing to do and wake on the commit that gives them work.

The loops' own poll is a 5-second safety net (runtime.SAFETY_POLL_SECONDS): work that
arrives in well under that was woken, not found by polling.
"""

from __future__ import annotations

import asyncio
import sys
import time

import httpx
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import unit_of_work
from app.kit import wakeups
from app.kit.secrets import SecretBox
from app.models import InboxItem, Role, Ticket, User
from app.outbox.enqueue import enqueue_deliveries
from app.realtime.bus import MemoryBus, create_bus
from app.runtime import SAFETY_POLL_SECONDS, Runtime
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_ticket, create_user
from tests.notifications.support import decision, ticket_event
from tests.test_cli import REDIS_URL, _env


async def _agent_and_ticket(db: async_sessionmaker[AsyncSession]) -> tuple[User, int]:
    async with unit_of_work(db) as session:
        agent, _ = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session)
    return agent, ticket.id


async def _notify(db: async_sessionmaker[AsyncSession], agent: User, ticket_id: int) -> None:
    """An in-app notification for `agent`, committed as the policy path commits it."""
    async with unit_of_work(db) as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        event_ = ticket_event(ticket, type="ticket.commented", body="Rolling out the fix")
        made = decision(event_, f"user:{agent.id}", "in_app", audience="agents")
        assert await enqueue_deliveries(session, event_, [made], ticket_id=ticket.id) == 1


async def _seconds_until_delivered(db: async_sessionmaker[AsyncSession], user: User) -> float:
    started = time.monotonic()
    for _ in range(100):
        async with db() as session:
            stmt = select(func.count()).select_from(InboxItem).where(InboxItem.user_id == user.id)
            if await session.scalar(stmt):
                return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError("not delivered within 5 s")


def _runtime(settings: Settings, db: async_sessionmaker[AsyncSession]) -> Runtime:
    return Runtime(
        settings=settings,
        engine=None,
        sessionmaker=db,
        bus=MemoryBus(),
        box=SecretBox(TEST_SECRET_KEY),
        http=httpx.AsyncClient(timeout=5),
    )


async def test_an_idle_worker_leaves_the_database_almost_alone(
    settings: Settings, engine: AsyncEngine, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    runtime = _runtime(settings, committed_db)
    runtime.start_workers()
    try:
        await asyncio.sleep(2)  # the first passes at start
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        await asyncio.sleep(5)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        await runtime.close()
    # Polling every half second, the loops made about 17 statements a second.
    assert statements / 5 < 5, f"{statements} statements in 5 s of idling"


async def test_a_committed_notification_is_delivered_at_once_not_at_the_next_poll(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    agent, ticket_id = await _agent_and_ticket(committed_db)
    runtime = _runtime(settings, committed_db)
    runtime.start_workers()
    try:
        await asyncio.sleep(1.5)  # every loop has looked once and sleeps now
        await _notify(committed_db, agent, ticket_id)
        waited = await _seconds_until_delivered(committed_db, agent)
    finally:
        await runtime.close()
    assert waited < SAFETY_POLL_SECONDS / 5, f"{waited:.2f}s: found by the poll, not woken"


async def test_a_commit_in_one_process_wakes_the_worker_in_another_over_redis(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    agent, ticket_id = await _agent_and_ticket(committed_db)
    worker = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app", "worker"),
        env=_env(settings, SOCIALDESK_REDIS_URL=REDIS_URL),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    bus = create_bus(REDIS_URL)  # this process plays the API replica
    await bus.connect()
    wakeups.use_bus(bus)
    try:
        await asyncio.sleep(4)  # started, looked once, sleeping
        assert worker.returncode is None
        await _notify(committed_db, agent, ticket_id)
        waited = await _seconds_until_delivered(committed_db, agent)
    finally:
        wakeups.forget_bus(bus)
        await bus.disconnect()
        worker.terminate()
        _, err = await asyncio.wait_for(worker.communicate(), timeout=20)
    assert waited < SAFETY_POLL_SECONDS / 5, f"{waited:.2f}s: found by the poll, not woken"
    assert b"Traceback" not in err
