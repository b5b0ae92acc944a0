"""A handful of async methods to fan small JSON envelopes out to subscribers.

`MemoryBus` serves one process; `RedisBus` (Redis pub/sub) serves several. Envelopes
carry ids and a few fields, not blobs: a subscriber re-reads what it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

import redis.asyncio as redis

log = logging.getLogger(__name__)
Envelope = dict[str, Any]
_JSON_SCALARS = frozenset({str, int, bool, type(None)})  # not float: NaN is no JSON


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[Envelope]: ...


class Bus(Protocol):
    async def connect(self) -> None: ...
    async def disconnect(self) -> None: ...
    async def publish(self, channel: str, envelope: Envelope) -> None: ...
    def subscribe(
        self, channel: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Envelope]]: ...


class MemoryBus:
    """In-process fan-out; each subscriber has its own queue."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Envelope]]] = defaultdict(set)

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        self._subscribers.clear()

    async def publish(self, channel: str, envelope: Envelope) -> None:
        # Memory and Redis must deliver the same shapes: a flat envelope of JSON scalars
        # (every chat frame) survives JSON unchanged, so a copy is the same; anything else
        # round-trips through JSON.
        if all(type(k) is str and type(v) in _JSON_SCALARS for k, v in envelope.items()):
            message = dict(envelope)
        else:
            message = json.loads(json.dumps(envelope, default=str))
        for queue in self._subscribers.get(channel, ()):
            queue.put_nowait(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Envelope]]:
        queue: asyncio.Queue[Envelope] = asyncio.Queue()
        self._subscribers[channel].add(queue)
        try:
            yield _drain(queue)
        finally:
            self._subscribers[channel].discard(queue)
            if not self._subscribers[channel]:
                del self._subscribers[channel]


async def _drain(queue: asyncio.Queue[Envelope]) -> AsyncIterator[Envelope]:
    while True:
        yield await queue.get()


class RedisBus:
    """Redis pub/sub: a message published on one replica reaches subscribers on all."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: redis.Redis | None = None

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            raise RuntimeError("RedisBus used before connect()")
        return self._client

    async def connect(self) -> None:
        self._client = redis.Redis.from_url(self._url)
        await self._client.ping()

    async def disconnect(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def publish(self, channel: str, envelope: Envelope) -> None:
        await self.client.publish(channel, json.dumps(envelope, default=str))

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Envelope]]:
        pubsub = self.client.pubsub()
        await pubsub.subscribe(channel)
        try:
            yield _redis_messages(pubsub)
        finally:
            await pubsub.unsubscribe(channel)
            await pubsub.aclose()  # type: ignore[no-untyped-call]


async def _redis_messages(pubsub: Any) -> AsyncIterator[Envelope]:
    async for message in pubsub.listen():
        if message.get("type") == "message":
            yield json.loads(message["data"])


def create_bus(redis_url: str | None) -> Bus:
    """The backend is chosen by URL: Redis when configured, else in-process."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
