from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from datetime import UTC, datetime

import pytest
import redis.asyncio as redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import after_commit, unit_of_work
from app.models import User
from app.realtime.bus import Bus, FeedLost, MemoryBus, RedisBus

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _roundtrip(publisher: Bus, subscriber: Bus) -> dict[str, object]:
    channel = f"test:{secrets.token_hex(4)}"
    async with subscriber.subscribe(channel) as feed:
        await asyncio.sleep(0.05)  # Redis SUBSCRIBE is acknowledged asynchronously
        await publisher.publish(channel, {"type": "message", "id": 1})
        return await asyncio.wait_for(anext(feed), timeout=5)


async def test_memory_bus_fans_out_to_subscribers() -> None:
    bus = MemoryBus()
    assert await _roundtrip(bus, bus) == {"type": "message", "id": 1}


@pytest.mark.parametrize(
    "envelope",
    [
        {"type": "chat", "visibility": "internal", "text": '{"a":1}', "message_id": 9},
        {"type": "x", "when": datetime(2026, 11, 29, tzinfo=UTC), "ids": (1, 2), "n": {1: "a"}},
        {"type": "x", "ratio": 0.5, "ok": True, "none": None},
    ],
)
async def test_the_memory_bus_delivers_what_redis_would(envelope: dict[str, object]) -> None:
    """Whatever the envelope, a subscriber gets its JSON form, and a copy of its own."""
    bus = MemoryBus()
    async with bus.subscribe("c") as one, bus.subscribe("c") as two:
        await bus.publish("c", envelope)
        first, second = await anext(one), await anext(two)
    assert first == second == json.loads(json.dumps(envelope, default=str))
    first["type"] = "changed"
    assert envelope["type"] != "changed"


@pytest.mark.integration
async def test_redis_bus_crosses_processes_boundaries(settings: Settings) -> None:
    one, two = RedisBus(settings.redis_url or REDIS_URL), RedisBus(settings.redis_url or REDIS_URL)
    await one.connect()
    await two.connect()
    try:
        assert await _roundtrip(one, two) == {"type": "message", "id": 1}
    finally:
        await one.disconnect()
        await two.disconnect()


@pytest.mark.integration
async def test_one_redis_connection_carries_every_channel_of_a_process() -> None:
    """Sockets x rooms must not become Redis clients: one pub/sub connection per process."""
    bus, probe = RedisBus(REDIS_URL), redis.Redis.from_url(REDIS_URL)
    await bus.connect()
    names = [f"test:{secrets.token_hex(4)}" for _ in range(3)]
    try:
        async with contextlib.AsyncExitStack() as stack:
            feeds = [
                await stack.enter_async_context(bus.subscribe(name))
                for name in names
                for _ in range(4)  # four local subscribers per channel
            ]
            counts = dict(await probe.pubsub_numsub(*names))
            assert set(counts.values()) == {1}
            await bus.publish(names[1], {"type": "hello"})
            # the second channel's four subscribers
            heard = [await asyncio.wait_for(anext(feed), 5) for feed in feeds[4:8]]
            assert heard == [{"type": "hello"}] * 4
        assert dict(await probe.pubsub_numsub(*names)) == dict.fromkeys(
            [n.encode() for n in names], 0
        )
    finally:
        await bus.disconnect()
        await probe.aclose()


@pytest.mark.integration
async def test_a_lost_redis_connection_ends_subscriptions_instead_of_skipping_messages() -> None:
    """What is published while the pub/sub connection is down is gone: say so, loudly."""
    bus, probe = RedisBus(REDIS_URL), redis.Redis.from_url(REDIS_URL)
    await bus.connect()
    channel = f"test:{secrets.token_hex(4)}"
    try:
        async with bus.subscribe(channel) as feed:
            await bus.publish(channel, {"n": 1})
            assert await asyncio.wait_for(anext(feed), 5) == {"n": 1}
            killed = await probe.client_kill_filter(_type="pubsub", skipme=True)
            assert killed >= 1
            with pytest.raises(FeedLost):
                await asyncio.wait_for(anext(feed), 10)
        # a new subscription works again, on a new connection
        async with bus.subscribe(channel) as feed:
            await bus.publish(channel, {"n": 2})
            assert await asyncio.wait_for(anext(feed), 5) == {"n": 2}
    finally:
        await bus.disconnect()
        await probe.aclose()


class TestPublishAfterCommit:
    async def test_subscribers_hear_only_after_the_data_is_committed(
        self, db: async_sessionmaker[AsyncSession]
    ) -> None:
        bus = MemoryBus()
        heard: list[bool] = []

        async with bus.subscribe("users") as feed:
            async with unit_of_work(db) as session:
                user = User(email="pub@example.com", name="Pub", role="end_user")
                session.add(user)
                await session.flush()
                after_commit(session, lambda: bus.publish("users", {"id": user.id}))
                await asyncio.sleep(0)
                heard.append(not feed_has_items(bus))
            envelope = await asyncio.wait_for(anext(feed), timeout=5)
        async with db() as session:
            assert await session.get(User, envelope["id"]) is not None
        assert heard == [True]

    async def test_a_rolled_back_unit_publishes_nothing(
        self, db: async_sessionmaker[AsyncSession]
    ) -> None:
        bus = MemoryBus()
        async with bus.subscribe("users") as feed:
            with pytest.raises(RuntimeError, match="boom"):
                await _failing_unit(db, bus)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(feed), timeout=0.2)


def feed_has_items(bus: MemoryBus) -> bool:
    return any(not q.empty() for qs in bus._subscribers.values() for q in qs)


async def _failing_unit(db: async_sessionmaker[AsyncSession], bus: MemoryBus) -> None:
    async with unit_of_work(db) as session:
        after_commit(session, lambda: bus.publish("users", {"id": 0}))
        raise RuntimeError("boom")
