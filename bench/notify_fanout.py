"""One status change on a ticket with 10,000 followers: time until every notification is out.

For each database (a scratch SQLite file, and a fresh PostgreSQL database next to the one
named) the run is what production does after the policy has decided: the followers
audience resolved in bulk, the recipients' channels read from their preferences, the pure
evaluator deciding (in-app and e-mail for each follower), `enqueue_deliveries` writing the
outbox rows in one transaction, then the relay (default settings: batches of 100, four
SMTP connections) delivering every row: inbox rows plus live pushes, and mails to a local
SMTP sink (aiosmtpd in its own process, counting what it receives).

References, in the same run: a raw insert of the same rows on the same database (plain
INSERT, no conflict handling, no collapse) - what writing the outbox costs at the least;
and bare aiosmtplib sending as many small prebuilt mails to the same sink over the same
four connections - what the SMTP leg costs at the least.

Followers are agents by default (`--followers-role`): an end user following a ticket they
did not request is refused at egress until the tickets domain's visibility rule lets end
users see followable tickets (`end_user` measures exactly that refusal path).

    .venv/bin/python -m bench.notify_fanout
    .venv/bin/python -m bench.notify_fanout --followers 2000 --databases sqlite

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.followers.audiences import followers_of
from app.kit.clock import utcnow
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance, Delivery, Role, Ticket, TicketFollow, User
from app.notifications.preferences import delivery_for
from app.outbox.enqueue import enqueue_deliveries
from app.outbox.relay import RelaySettings
from app.outbox.worker import build_relay
from app.policy.engine.document import parse_policy
from app.policy.engine.evaluator import Actor, PolicyEvent, Recipient, TicketFacts, evaluate
from app.realtime.bus import MemoryBus
from bench.common import scratch_database, stopwatch

SECRET_KEY = "bench-secret-key-" + "x" * 32
POLICY = parse_policy(
    """
rules:
  - id: followers-hear-status
    on: [ticket.status_changed]
    to: [followers]
    via: [in_app, email]
"""
)


async def seed(session: AsyncSession, followers: int, role: Role) -> Ticket:
    """A ticket and `followers` end users following it (bulk inserts: seeding is not timed)."""
    connector = ConnectorInstance(
        kind="demo", name="bench", secrets_sealed=SecretBox(SECRET_KEY).seal({}),
        remote_identity="bench:demo",
    )  # fmt: skip
    session.add(connector)
    await session.flush()
    now = utcnow()
    ticket = Ticket(
        connector_id=connector.id, external_id="MAJ-1", title="E-mail outage", status="open",
        raw_status="open", priority="P2", raw_priority="P2", followable=True,
        opened_at=now, external_updated_at=now,
    )  # fmt: skip
    session.add(ticket)
    await session.flush()
    users = [
        {"email": f"follower{n}@example.net", "name": f"Follower {n}", "role": role,
         "is_active": True, "created_at": now}
        for n in range(followers)
    ]  # fmt: skip
    await session.execute(insert(User), users)
    ids = (await session.execute(select(User.id))).scalars().all()
    follows = [
        {"ticket_id": ticket.id, "user_id": uid, "muted": False, "source": "manual",
         "created_at": now}
        for uid in ids
    ]  # fmt: skip
    await session.execute(insert(TicketFollow), follows)
    return ticket


async def decide(
    session: AsyncSession, ticket: Ticket, role: Role
) -> tuple[PolicyEvent, list[Any]]:
    """Resolve the followers and their channels, then the pure evaluator's decisions."""
    ids = await followers_of(session, ticket.id)
    channels = await delivery_for(session, ids)
    recipients = [
        Recipient(
            key=f"user:{uid}",
            role=role.value,
            audiences=frozenset({"followers"}),
            channels=channels[uid].channels,
            may_see_ticket=True,
            user_id=uid,
            preferences=channels[uid].preferences,
        )
        for uid in ids
    ]
    event = PolicyEvent(
        key="bench:status:1", type="ticket.status_changed", visibility="public",
        occurred_at=utcnow(), actor=Actor(user_id=None, role="system"),
        ticket=TicketFacts(priority="P2", status="in_progress", followable=True),
        old_status="open", new_status="in_progress",
    )  # fmt: skip
    return event, evaluate(POLICY, event, recipients, utcnow())


async def until_delivered(
    sessionmaker: async_sessionmaker[AsyncSession], channels: tuple[str, ...]
) -> dict[str, float]:
    """Seconds until each channel has nothing pending, polled every quarter second."""
    loop = asyncio.get_running_loop()
    start, finished = loop.time(), dict[str, float]()
    while len(finished) < len(channels):
        await asyncio.sleep(0.25)
        async with unit_of_work(sessionmaker) as session:
            stmt = (
                select(Delivery.channel, func.count())
                .where(Delivery.status == "pending")
                .group_by(Delivery.channel)
            )
            pending = {str(c): int(n) for c, n in (await session.execute(stmt)).all()}
        for channel in channels:
            if channel not in finished and not pending.get(channel):
                finished[channel] = round(loop.time() - start, 2)
    return finished


def outbox_table() -> Table:
    table = Delivery.__table__
    assert isinstance(table, Table)
    return table


async def raw_reference(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """The same rows, inserted plainly (new keys), then removed: the floor for the outbox."""
    async with unit_of_work(sessionmaker) as session:
        rows = (await session.execute(select(Delivery))).scalars().all()
        copies = [
            {
                "idempotency_key": f"raw:{r.idempotency_key}", "event_key": "raw",
                "recipient_key": r.recipient_key, "channel": r.channel, "user_id": r.user_id,
                "ticket_id": r.ticket_id, "timing": r.timing, "status": "raw",
                "payload": r.payload, "rule_id": r.rule_id, "deliver_at": r.deliver_at,
                "attempts": 0,
            }
            for r in rows
        ]  # fmt: skip
    with stopwatch() as elapsed:
        async with unit_of_work(sessionmaker) as session:
            await session.execute(insert(outbox_table()), copies)
    async with unit_of_work(sessionmaker) as session:
        await session.execute(delete(Delivery).where(Delivery.event_key == "raw"))
    return {"rows": len(copies), "seconds": round(elapsed[0], 3),
            "per_second": round(len(copies) / elapsed[0])}  # fmt: skip


async def raw_smtp_reference(smtp_url: str, count: int, connections: int = 4) -> dict[str, Any]:
    """Prebuilt one-part mails over `connections` SMTP connections: the sending floor."""
    from email.mime.text import MIMEText

    import aiosmtplib

    host, port = smtp_url.removeprefix("smtp://").split(":")
    queue: asyncio.Queue[MIMEText] = asyncio.Queue()
    for n in range(count):
        mail = MIMEText("Status changed from open to in_progress\n" * 4, "plain", "utf-8")
        mail["From"], mail["To"], mail["Subject"] = "a@example.com", f"u{n}@example.net", "s"
        queue.put_nowait(mail)

    async def connection() -> None:
        client = aiosmtplib.SMTP(hostname=host, port=int(port), start_tls=False)
        await client.connect()
        while not queue.empty():
            await client.send_message(queue.get_nowait())
        await client.quit()

    with stopwatch() as elapsed:
        await asyncio.gather(*(connection() for _ in range(connections)))
    return {"mails": count, "seconds": round(elapsed[0], 3),
            "per_second": round(count / elapsed[0])}  # fmt: skip


async def run_one(
    kind: str, url: str, args: argparse.Namespace, sink: SinkProcess
) -> dict[str, Any]:
    followers, role = args.followers, Role(args.followers_role)
    settings = Settings(
        database_url=url, secret_key=SECRET_KEY, smtp_url=sink.url,
        base_url="https://desk.example.com",
    )  # fmt: skip
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    async with unit_of_work(sessionmaker) as session:
        ticket = await seed(session, followers, role)
    with stopwatch() as decided:
        async with unit_of_work(sessionmaker) as session:
            event, decisions = await decide(session, ticket, role)
    with stopwatch() as enqueued:
        async with unit_of_work(sessionmaker) as session:
            rows = await enqueue_deliveries(session, event, decisions, ticket_id=ticket.id)
    reference = await raw_reference(sessionmaker)
    smtp_reference = await raw_smtp_reference(sink.url, followers)
    before = await sink.count()
    async with httpx_client() as http:
        relay = build_relay(settings, sessionmaker, MemoryBus(), SecretBox(SECRET_KEY), http,
                            relay_settings=RelaySettings())  # fmt: skip
        stop = asyncio.Event()
        with stopwatch() as delivered:
            running = asyncio.create_task(relay.run(stop))  # the lanes, as a worker runs them
            finished = await until_delivered(sessionmaker, ("in_app", "email"))
            stop.set()
        await running
    async with unit_of_work(sessionmaker) as session:
        stmt = select(Delivery.channel, Delivery.status, func.count()).group_by(
            Delivery.channel, Delivery.status
        )
        outcome = {f"{c}:{s}": int(n) for c, s, n in (await session.execute(stmt)).all()}
    await engine.dispose()
    mails = await sink.count() - before
    total = decided[0] + enqueued[0] + delivered[0]
    return {
        "database": kind,
        "followers": followers,
        "followers_role": role.value,
        "deliveries": rows,
        "decide_s": round(decided[0], 3),
        "enqueue_s": round(enqueued[0], 3),
        "enqueue_per_second": round(rows / enqueued[0]),
        "deliver_s": round(delivered[0], 3),
        "deliveries_per_second": round(rows / delivered[0]),
        "in_app_all_delivered_s": finished["in_app"],
        "email_all_delivered_s": finished["email"],
        "decided_to_delivered_s": round(total, 3),
        "outcome": outcome,
        "smtp_received": mails,
        "reference_raw_insert": reference,
        "enqueue_vs_raw_insert": round(enqueued[0] / reference["seconds"], 2),
        "reference_raw_smtp": smtp_reference,
        "mails_per_second": round(mails / finished["email"]),
        "mails_vs_raw_smtp": round(smtp_reference["per_second"] / (mails / finished["email"]), 2),
    }


@asynccontextmanager
async def httpx_client() -> AsyncIterator[Any]:
    import httpx

    async with httpx.AsyncClient(timeout=10) as client:
        yield client


class SinkProcess:
    """aiosmtpd in its own process, so receiving mail does not share our event loop."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.notify_fanout", "--sink",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.url = (await self.process.stdout.readline()).decode().strip()

    async def count(self) -> int:
        assert self.process is not None
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(b"count\n")
        await self.process.stdin.drain()
        return int(await self.process.stdout.readline())

    async def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            await self.process.wait()


async def serve_sink() -> None:
    """The sink: prints its URL, then answers `count` lines on stdin with the mail count."""
    from aiosmtpd.smtp import SMTP

    received = 0

    class Handler:
        async def handle_DATA(self, *_args: Any) -> str:
            nonlocal received
            received += 1
            return "250 OK"

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", 0)
    print(f"smtp://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        print(received, flush=True)


async def main(args: argparse.Namespace) -> None:
    sink = SinkProcess()
    await sink.start()
    runs = []
    try:
        for kind in args.databases.split(","):
            async with scratch_database(None if kind == "sqlite" else args.pg_url) as url:
                runs.append(await run_one(kind, url, args, sink))
    finally:
        await sink.stop()
    machine = {"python": sys.version.split()[0], "cpu": platform.machine()}
    print(json.dumps({"benchmark": "notify_fanout", "runs": runs, "machine": machine}, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--followers", type=int, default=10_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--followers-role", default="agent", choices=["agent", "end_user"])
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    asyncio.run(serve_sink() if parsed.sink else main(parsed))
