"""`python -m app.outbox`: the delivery relay alone, with its lease and batch made explicit.

`socialdesk worker` runs the relay with the defaults next to the sync worker; this entry
point runs only the relay, for a dedicated delivery process or a test that needs a short
lease (a crashed worker's rows are retried once their lease has expired).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from datetime import timedelta

from app.config import get_settings
from app.outbox.relay import RelaySettings
from app.outbox.worker import build_relay
from app.runtime import Runtime


async def _run(relay_settings: RelaySettings) -> None:
    runtime = await Runtime.open(get_settings())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runtime.stop)
    relay = build_relay(
        runtime.settings, runtime.sessionmaker, runtime.bus, runtime.box, runtime.http,
        relay_settings=relay_settings,
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await runtime.wait()
    stop.set()
    await task
    await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.outbox", description=__doc__)
    parser.add_argument("--lease-seconds", type=float, default=60.0)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--poll-seconds", type=float, default=0.5)
    args = parser.parse_args()
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    relay_settings = RelaySettings(
        batch_size=args.batch_size,
        lease=timedelta(seconds=args.lease_seconds),
        poll_interval=args.poll_seconds,
    )
    asyncio.run(_run(relay_settings))


if __name__ == "__main__":
    main()
