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


class FeedLost(Exception):
    """The live feed had a gap (Redis connection lost): subscribers resume from the data."""


class RedisBus:
    """Redis pub/sub: a message published on one replica reaches subscribers on all.

    One pub/sub connection per process carries every channel, however many rooms and
    sockets subscribe (Redis sees one client, not one per socket). Messages published
    while that connection is down are gone, so a lost connection ends every local
    subscription with `FeedLost` instead of reconnecting silently: subscribers start over
    from the database, which has everything.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: redis.Redis | None = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._queues: dict[str, set[asyncio.Queue[Envelope | FeedLost]]] = defaultdict(set)
        self._lock = asyncio.Lock()

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            raise RuntimeError("RedisBus used before connect()")
        return self._client

    async def connect(self) -> None:
        self._client = redis.Redis.from_url(self._url)
        await self._client.ping()

    async def disconnect(self) -> None:
        await self._drop_pubsub(FeedLost("the bus was closed"))
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def publish(self, channel: str, envelope: Envelope) -> None:
        await self.client.publish(channel, json.dumps(envelope, default=str))

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Envelope]]:
        queue: asyncio.Queue[Envelope | FeedLost] = asyncio.Queue()
        async with self._lock:
            first = not self._queues.get(channel)
            self._queues[channel].add(queue)
            try:
                if first:
                    await self._live_pubsub().subscribe(channel)
                self._start_reader()
            except Exception:
                self._forget(channel, queue)
                raise
        try:
            yield _until_lost(queue)
        finally:
            async with self._lock:
                if self._forget(channel, queue) and self._pubsub is not None:
                    with contextlib.suppress(Exception):
                        await self._pubsub.unsubscribe(channel)

    def _forget(self, channel: str, queue: asyncio.Queue[Envelope | FeedLost]) -> bool:
        """Drop a local subscriber; True when it was the channel's last one."""
        queues = self._queues.get(channel)
        if queues is None:
            return False
        queues.discard(queue)
        if queues:
            return False
        del self._queues[channel]
        return True

    def _live_pubsub(self) -> Any:
        if self._pubsub is None:
            self._pubsub = self.client.pubsub()
        return self._pubsub

    def _start_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(self._pubsub), name="redis-bus")

    async def _read(self, pubsub: Any) -> None:
        # redis-py reconnects and resubscribes on its own; what was published meanwhile
        # is lost, so a reconnect counts as a lost feed.
        watch = _ConnectWatch()
        pubsub.connection.register_connect_callback(watch.on_connect)
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if watch.reconnected:
                    raise FeedLost("the Redis pub/sub connection was re-established")
                if message is None or message.get("type") != "message":
                    continue
                channel = message["channel"]
                channel = channel.decode() if isinstance(channel, bytes) else channel
                envelope = json.loads(message["data"])
                for queue in self._queues.get(channel, ()):
                    queue.put_nowait(envelope)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("Redis bus feed lost: %r", exc)
            lost = exc if isinstance(exc, FeedLost) else FeedLost(repr(exc))
            async with self._lock:
                if self._pubsub is pubsub:
                    await self._drop_pubsub(lost, reader_done=True)

    async def _drop_pubsub(self, lost: FeedLost, *, reader_done: bool = False) -> None:
        """End every local subscription with `lost` and forget the pub/sub connection."""
        pubsub, self._pubsub = self._pubsub, None
        reader, self._reader = self._reader, None
        if reader is not None and not reader_done:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        for queues in self._queues.values():
            for queue in queues:
                queue.put_nowait(lost)
        self._queues.clear()
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


class _ConnectWatch:
    """Notices a (re)connection of a redis-py connection (its callbacks are weak refs)."""

    def __init__(self) -> None:
        self.reconnected = False

    async def on_connect(self, _connection: Any) -> None:
        self.reconnected = True


async def _until_lost(queue: asyncio.Queue[Envelope | FeedLost]) -> AsyncIterator[Envelope]:
    while True:
        item = await queue.get()
        if isinstance(item, FeedLost):
            raise item
        yield item


def create_bus(redis_url: str | None) -> Bus:
    """The backend is chosen by URL: Redis when configured, else in-process."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
