"""Worker loops are woken by the commit that gave them work, not by polling hard.

A transaction that leaves work for a background loop (outbox rows, chat messages to react
to, write-backs) calls `wake_after_commit(session, queue)`; once it has committed, one small
envelope `{"queue": ...}` goes out on the bus channel `wake`, which reaches the workers of
every process (Redis) or of this one (in-process bus). Each worker process runs one
`WakeListener`, and its loops wait on the listener's event for their queue, with a slow
poll (seconds) left only as a safety net: for a lost wake-up (Redis carries no history)
and for work that becomes due by time (retries, delayed deliveries, digests).

The bus a process wakes through is set once by its runtime (`use_bus`); it is process
state because the places that make work are many and deep (enqueue functions take a
session, not a bus), and a wake-up is a hint, never data: without a bus nothing is woken
and the safety poll still finds the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import AFTER_COMMIT, after_commit

log = logging.getLogger(__name__)
CHANNEL = "wake"
_PENDING = "wake_after_commit"


class _Bus(Protocol):
    async def publish(self, channel: str, envelope: dict[str, Any]) -> None: ...
    def subscribe(
        self, channel: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]: ...


_bus: _Bus | None = None


def use_bus(bus: _Bus | None) -> None:
    """The bus this process wakes workers through (None: wake nobody)."""
    global _bus
    _bus = bus


def forget_bus(bus: _Bus) -> None:
    """A closing runtime's bus stops being used (another runtime's stays)."""
    global _bus
    if _bus is bus:
        _bus = None


def wake_after_commit(session: AsyncSession, queue: str) -> None:
    """Wake the loops of `queue` once this transaction commits (once per commit)."""
    pending: dict[str, Any] = session.info.setdefault(_PENDING, {})
    registered = pending.get(queue)
    if registered is not None and registered in session.info.get(AFTER_COMMIT, ()):
        return  # already asked for in this transaction

    async def publish() -> None:
        pending.pop(queue, None)
        bus = _bus
        if bus is None:
            return
        try:
            await bus.publish(CHANNEL, {"queue": queue})
        except Exception as exc:  # a hint only: the safety poll finds the work anyway
            log.warning("could not wake the %s workers: %s", queue, exc)

    pending[queue] = publish
    after_commit(session, publish)


class WakeListener:
    """One per worker process: turns `wake` envelopes into per-queue events."""

    def __init__(self) -> None:
        self._events: dict[str, list[asyncio.Event]] = defaultdict(list)
        self.ready = asyncio.Event()

    def event(self, queue: str) -> asyncio.Event:
        """A new event of `queue`'s, for one loop (each loop clears its own)."""
        event = asyncio.Event()
        self._events[queue].append(event)
        return event

    async def run(self, bus: _Bus, stop: asyncio.Event) -> None:
        """Listen until `stop`; a lost subscription is renewed (and every loop woken)."""
        while not stop.is_set():
            try:
                async with bus.subscribe(CHANNEL) as feed:
                    self.ready.set()
                    listening = asyncio.ensure_future(self._listen(feed))
                    stopping = asyncio.ensure_future(stop.wait())
                    try:
                        await asyncio.wait(
                            {listening, stopping}, return_when=asyncio.FIRST_COMPLETED
                        )
                    finally:
                        for task in (listening, stopping):
                            task.cancel()
                        if listening.done() and not listening.cancelled():
                            listening.result()  # the feed broke: raise it here
            except Exception as exc:
                log.warning("wake-ups lost (%s); loops fall back on their slow poll", exc)
                for events in self._events.values():
                    for event in events:
                        event.set()  # something may have been missed meanwhile
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1)

    async def _listen(self, feed: AsyncIterator[dict[str, Any]]) -> None:
        async for envelope in feed:
            queue = envelope.get("queue")
            for event in self._events.get(queue, ()) if isinstance(queue, str) else ():
                event.set()
