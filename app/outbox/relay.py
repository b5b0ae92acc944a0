"""The relay: claims due outbox rows, hands them to their channels, records what happened.

Each lane of channels (in-app; e-mail; webhook and Apprise) runs its own passes, so a slow
channel never delays another. A pass: fold due digests; claim up to `batch_size` due rows
with a lease (counting the attempt); compose messages from the database as it is now;
send, while a heartbeat keeps the lease alive; then, in one transaction, record every
attempt and move each row on: sent, skipped, retried later with exponential backoff, or
dead (a final failure, an egress refusal, or `max_attempts` used up) for an admin to look
at and retry.

Delivery guarantee. A send happens outside the database, so "sent" and "recorded as sent"
cannot be one atomic step. If a worker dies between them, its lease expires and another
worker sends the rows again: at-least-once, never lost. Every resend carries the same id
(the idempotency key), so receivers deduplicate: e-mail by Message-ID, webhooks by
`webhook-id`, and the in-app inbox by a unique key, which makes in-app exactly-once.
The window is one batch per lane: at most `batch_size` rows of a lane can be resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.polling import poll_until_stopped
from app.metrics.prometheus import DELIVERIES
from app.models import Delivery
from app.notifications.channels import Channel, DeliveryResult, Outcome
from app.notifications.compose import Composed, ComposeSettings, compose
from app.notifications.content import OutboundMessage
from app.notifications.digests import assemble_digests
from app.notifications.preferences import do_record_destination_health
from app.outbox import repository
from app.outbox.repository import Settlement
from app.policy.engine.document import PolicyDocument, RedactionSettings, load_default_policy
from app.policy.guard.egress import InternalContentLeak

log = logging.getLogger(__name__)


Lane = tuple[str, ...]
# Each lane claims and sends on its own, so a slow channel (a webhook timing out, a busy
# SMTP server) never holds up another (the in-app inbox).
LANES: tuple[Lane, ...] = (
    ("in_app",),
    ("email", "status_email"),
    ("webhook", "apprise", "status_webhook"),
)


@dataclass(frozen=True, slots=True)
class RelaySettings:
    lanes: tuple[Lane, ...] = LANES
    batch_size: int = 100
    lease: timedelta = timedelta(seconds=60)
    poll_interval: float = 0.5
    max_attempts: int = 8
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=1)
    # A webhook or Apprise destination failing this many times in a row is disabled.
    disable_after: int = 5


# Attempts beyond max_attempts a row may use up in crashed workers before it is given up.
CRASH_ALLOWANCE = 2
RedactionSource = Callable[[AsyncSession], Awaitable[RedactionSettings]]


@lru_cache(maxsize=1)
def _shipped_policy() -> PolicyDocument:
    return load_default_policy()


async def shipped_redaction(_session: AsyncSession) -> RedactionSettings:
    """The shipped default policy's redaction settings (the runtime reads the active one)."""
    return _shipped_policy().redaction


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Relay:
    """Delivers the outbox until stopped; `run_once` is one pass (tests and benchmarks)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        channels: Mapping[str, Channel],
        compose_settings: ComposeSettings,
        *,
        settings: RelaySettings | None = None,
        clock: Callable[[], datetime] = utcnow,
        owner: str | None = None,
        redaction: RedactionSource = shipped_redaction,
        wake: Callable[[], asyncio.Event] | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.channels = channels
        self.compose_settings = compose_settings
        self.settings = settings or RelaySettings()
        self.clock = clock
        self.owner = owner or worker_identity()
        self.redaction = redaction
        # Gives each lane an event set when a commit made outbox rows (app.kit.wakeups).
        self._wake = wake

    async def run(self, stop: asyncio.Event) -> None:
        """Every lane, pass after pass, until `stop` is set."""
        try:
            await asyncio.gather(*(self._lane(lane, stop) for lane in self.settings.lanes))
        finally:
            await asyncio.gather(*(c.close() for c in self.channels.values()))

    async def _lane(self, lane: Lane, stop: asyncio.Event) -> None:
        wake = self._wake() if self._wake is not None else None  # one per lane: each clears its own
        await poll_until_stopped(
            stop,
            lambda: self.run_once(lane),
            tick=self.settings.poll_interval,
            full=self.settings.batch_size,
            what=f"delivery pass over {', '.join(lane)}",
            wake=wake,
        )

    async def drain(self, max_passes: int = 10_000) -> int:
        """Passes over the lanes, one at a time, until nothing is due; rows handled."""
        total = 0
        for _ in range(max_passes):
            claimed = sum([await self.run_once(lane) for lane in self.settings.lanes])
            total += claimed
            if claimed == 0:
                break
        return total

    async def run_once(self, lane: Lane | None = None) -> int:
        """One pass over a lane's channels (default: all): digests, claim, compose, send,
        settle; how many rows were claimed."""
        now = self.clock()
        async with unit_of_work(self.sessionmaker) as session:
            await assemble_digests(session, now=now, channels=lane)
        async with unit_of_work(self.sessionmaker) as session:
            ids = await repository.claim_due(
                session, owner=self.owner, now=now, lease_until=now + self.settings.lease,
                limit=self.settings.batch_size, channels=lane,
            )  # fmt: skip
        if not ids:
            return 0
        heartbeat = asyncio.create_task(self._heartbeat(ids))
        try:
            async with unit_of_work(self.sessionmaker) as session:
                rows = list(await repository.leased_rows(session, ids))
                settings = replace(self.compose_settings, redaction=await self.redaction(session))
                # Claims count attempts, so a row that keeps killing its worker ends here.
                limit = self.settings.max_attempts + CRASH_ALLOWANCE
                crashed = {r.id for r in rows if r.attempts > limit}
                sendable = [r for r in rows if r.id not in crashed]
                composed = await compose(session, sendable, settings, now=now)
                composed.unsent.update(
                    (i, ("failed", "gave up: its worker stopped during every attempt"))
                    for i in crashed
                )
            results = await self._send(composed.messages)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        await self._settle(rows, composed, results, started=now)
        return len(ids)

    async def _heartbeat(self, ids: list[int]) -> None:
        """Keep the batch's lease; a failed renewal is logged at once and tried again."""
        every = self.settings.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                async with unit_of_work(self.sessionmaker) as session:
                    until = self.clock() + self.settings.lease
                    await repository.extend_lease(session, ids, owner=self.owner, lease_until=until)
            except Exception as exc:
                # Left unrenewed, the lease runs out and another worker may send these
                # rows too (each carries a stable Message-ID / idempotency key for that).
                log.warning(
                    "could not renew the lease of %d outbox rows (%s); retrying in %.0fs",
                    len(ids),
                    exc,
                    every,
                )

    async def _send(self, messages: Sequence[OutboundMessage]) -> dict[int, Outcome]:
        by_channel: dict[str, list[OutboundMessage]] = {}
        for message in messages:
            by_channel.setdefault(message.channel, []).append(message)
        results: dict[int, Outcome] = {}

        async def one_channel(key: str, batch: list[OutboundMessage]) -> None:
            channel = self.channels.get(key)
            if channel is None:
                missing = DeliveryResult.failed(f"no {key} channel here", permanent=True)
                results.update((m.delivery_id, missing) for m in batch)
                return
            outcomes = await channel.send_many(batch)
            results.update((m.delivery_id, o) for m, o in zip(batch, outcomes, strict=True))

        await asyncio.gather(*(one_channel(k, b) for k, b in by_channel.items()))
        return results

    async def _settle(
        self,
        rows: Sequence[Delivery],
        composed: Composed,
        results: Mapping[int, Outcome],
        *,
        started: datetime,
    ) -> None:
        now = self.clock()
        settlements = []
        health: dict[int, list[tuple[bool, str]]] = {}
        for row in rows:
            settlement = self._settlement(row, composed, results.get(row.id), started, now)
            settlements.append(settlement)
            if row.destination_id is not None and settlement.outcome in ("sent", "failed"):
                ok = settlement.outcome == "sent"
                health.setdefault(row.destination_id, []).append((ok, settlement.detail))
        async with unit_of_work(self.sessionmaker) as session:
            await repository.settle(session, settlements, owner=self.owner, now=now)
        for row, settlement in zip(rows, settlements, strict=True):
            DELIVERIES.labels(channel=row.channel, outcome=settlement.outcome).inc()
        async with unit_of_work(self.sessionmaker) as session:
            if composed.refused_items:
                await _refuse_items(session, composed.refused_items, now)
            await do_record_destination_health(
                session, health, now=now, disable_after=self.settings.disable_after
            )

    def _settlement(
        self,
        row: Delivery,
        composed: Composed,
        result: Outcome | None,
        started: datetime,
        now: datetime,
    ) -> Settlement:
        def settled(
            outcome: str, detail: str, status: str, retry_at: datetime | None = None
        ) -> Settlement:
            return Settlement(row.id, row.attempts, outcome, detail, status, started, retry_at)

        if row.id in composed.unsent:
            outcome, detail = composed.unsent[row.id]
            if outcome == "skipped":
                return settled("skipped", detail, "skipped")
            if outcome == "refused":
                log.error("egress refused delivery %s: %s", row.id, detail)
            return settled("refused" if outcome == "refused" else "failed", detail, "dead")
        if isinstance(result, InternalContentLeak):
            log.error("egress refused delivery %s at the channel: %s", row.id, result)
            return settled("refused", str(result), "dead")
        if result is None:
            result = DeliveryResult.failed("no result from the channel")
        if result.ok:
            return settled("sent", result.detail, "sent")
        if result.permanent or row.attempts >= self.settings.max_attempts:
            return settled("failed", result.detail, "dead")
        return settled("failed", result.detail, "pending", now + self.backoff(row.attempts))

    def backoff(self, attempts: int) -> timedelta:
        """Exponential, capped, with jitter so a recovered receiver is not hit all at once."""
        base = self.settings.backoff_base * 2 ** max(attempts - 1, 0)
        capped = min(base, self.settings.backoff_max)
        spread = random.uniform(0.75, 1.0)  # noqa: S311 (spreading retries, not secrecy)
        return timedelta(seconds=capped.total_seconds() * spread)


async def _refuse_items(session: AsyncSession, refused: Mapping[int, str], now: datetime) -> None:
    for item_id, reason in refused.items():
        log.error("egress refused digest item %s: %s", item_id, reason)
        await session.execute(
            update(Delivery)
            .where(Delivery.id == item_id)
            .values(status="dead", last_error=reason, updated_at=now)
            .execution_options(synchronize_session=False)
        )
