"""A real delivery worker killed with SIGKILL mid-batch loses nothing and, after receiver-side
deduplication by id, delivers every notification exactly once per recipient and channel.

What is promised, honestly: a send happens outside the database, so a worker that dies
after a receiver accepted a message but before recording it leaves that row leased; once
the lease expires a new worker sends it again with the same id. The SMTP receiver below
kills the worker itself while accepting the 10th mail, so that window is always hit: the
test sees the resend, checks it carries the same Message-ID / webhook-id (so a receiver can
drop it), bounds the resends by one batch, and checks the in-app inbox (deduplicated by a
unique key inside the database) has exactly one notification per person.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import Delivery, InboxItem, Role
from app.notifications.channels.email import message_id
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_ticket, create_user
from tests.notifications.receivers import HttpReceiver, SmtpSink, verify_standard_webhook
from tests.notifications.support import (
    WEBHOOK_SECRET,
    add_destination,
    decision,
    enqueue,
    ticket_event,
)

PEOPLE = 30
BATCH = 12


async def _start_worker(settings: Settings, smtp_url: str, log: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
    env.update(
        SOCIALDESK_DATABASE_URL=settings.database_url,
        SOCIALDESK_SECRET_KEY=TEST_SECRET_KEY,
        SOCIALDESK_SMTP_URL=smtp_url,
        SOCIALDESK_BASE_URL="https://desk.example.com",
        SOCIALDESK_LOG_LEVEL="warning",
        SOCIALDESK_ALLOW_PRIVATE_DESTINATIONS="true",  # the receivers listen on loopback
    )
    args = ["--lease-seconds", "3", "--batch-size", str(BATCH), "--poll-seconds", "0.1"]
    with log.open("ab") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.outbox", *args, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=err,
        )  # fmt: skip


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    for _ in range(int(seconds * 10)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_sigkill_mid_batch_then_restart_delivers_everything_exactly_once(
    settings: Settings,
    committed_db: async_sessionmaker[AsyncSession],
    smtp_sink: tuple[SmtpSink, str],
    receiver: tuple[HttpReceiver, str],
    tmp_path: Path,
) -> None:
    sink, smtp_url = smtp_sink
    server, url = receiver
    sink.delay = server.delay = 0.05
    keys: dict[str, set[str]] = {"in_app": set(), "email": set(), "webhook": set()}
    async with committed_db() as session:
        ticket = await create_ticket(session)
        # Agents: they may see the ticket without having requested it.
        people = [(await create_user(session, role=Role.AGENT))[0] for _ in range(PEOPLE)]
        for person in people:
            await add_destination(session, person.id, "webhook", url, secret=WEBHOOK_SECRET)
        event = ticket_event(ticket, type="ticket.commented", body="The fix is rolling out")
        decided = [
            decision(event, f"user:{p.id}", channel, audience="agents")
            for p in people
            for channel in ("in_app", "email", "webhook")
        ]
        assert await enqueue(session, event, decided, ticket) == 3 * PEOPLE
        for row in (await session.execute(select(Delivery))).scalars():
            keys[row.channel].add(row.idempotency_key)
    log = tmp_path / "worker.log"

    first = await _start_worker(settings, smtp_url, log)
    sink.on_message = lambda count: first.kill() if count == 10 else None
    assert await first.wait() == -9, log.read_text()
    sink.on_message = None

    async def counts() -> Counter[str]:
        async with committed_db() as session:
            stmt = select(Delivery.status, func.count()).group_by(Delivery.status)
            return Counter({s: int(n) for s, n in (await session.execute(stmt)).all()})

    left = await counts()
    assert left["pending"] > 0, f"the worker finished before the kill: {left}"

    second = await _start_worker(settings, smtp_url, log)
    try:
        await _eventually(
            lambda: _all_sent(counts), seconds=60, what=f"every delivery sent ({log.read_text()})"
        )
    finally:
        second.terminate()
        await second.wait()

    # E-mail: every recipient's Message-ID arrived; resends carry the same id.
    expected_mail = {message_id(k, "desk.example.com") for k in keys["email"]}
    received = Counter(sink.message_ids())
    assert set(received) == expected_mail
    resent_mail = sum(received.values()) - len(received)
    assert 1 <= resent_mail <= BATCH  # the 10th mail, accepted as the worker died, came again
    # Webhooks: every webhook-id arrived, signed; a resend is the same message.
    assert all(verify_standard_webhook(WEBHOOK_SECRET, r) for r in server.requests)
    bodies: dict[str, set[bytes]] = {}
    for request in server.requests:
        bodies.setdefault(request.headers["webhook-id"], set()).add(request.body)
    assert set(bodies) == keys["webhook"]
    assert all(len(versions) == 1 for versions in bodies.values())
    assert len(server.requests) - len(bodies) <= BATCH
    # In-app: exactly once, deduplicated by the database itself.
    async with committed_db() as session:
        inbox = (await session.execute(select(InboxItem.idempotency_key))).scalars().all()
    assert sorted(inbox) == sorted(keys["in_app"])
    assert len(inbox) == len(set(inbox)) == PEOPLE


async def _all_sent(counts: Callable[[], Awaitable[Counter[str]]]) -> bool:
    return (await counts()) == Counter({"sent": 3 * PEOPLE})
