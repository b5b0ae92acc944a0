"""The loop every background worker runs: a pass, then a pause when there was little to do."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def poll_until_stopped(
    stop: asyncio.Event,
    one_pass: Callable[[], Awaitable[int | None]],
    *,
    tick: float,
    full: int = 1,
    what: str,
    wake: asyncio.Event | None = None,
) -> None:
    """Run `one_pass` until `stop` is set.

    A pass that handled `full` items or more is followed at once by the next (there is
    probably more); otherwise the loop waits `tick` seconds, or less if stopped or woken
    (`wake`, set when a commit made work for this loop: app.kit.wakeups). A failing pass
    is logged and retried after the pause: a worker never dies of one bad pass.
    """
    while not stop.is_set():
        if wake is not None:
            wake.clear()  # a commit during the pass sets it again: no wake-up is missed
        handled = 0
        try:
            handled = await one_pass() or 0
        except Exception:
            log.exception("%s failed; retrying", what)
        if handled < full:
            await _pause(stop, wake, tick)


async def _pause(stop: asyncio.Event, wake: asyncio.Event | None, tick: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=tick, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
