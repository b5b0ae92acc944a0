"""The loop every background worker runs: a pass, then a pause when there was little to do."""

from __future__ import annotations

import asyncio
import contextlib
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
) -> None:
    """Run `one_pass` until `stop` is set.

    A pass that handled `full` items or more is followed at once by the next (there is
    probably more); otherwise the loop waits `tick` seconds, or less if stopped. A failing
    pass is logged and retried after the pause: a worker never dies of one bad pass.
    """
    while not stop.is_set():
        handled = 0
        try:
            handled = await one_pass() or 0
        except Exception:
            log.exception("%s failed; retrying", what)
        if handled < full:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick)
