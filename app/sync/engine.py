"""One sync pass over one connector instance: fetch pages, commit each with its cursor.

Failures are mapped by the connector onto a small taxonomy and handled the same way for
every system: back off (honouring Retry-After), pause on auth failure, record health.
Only the holder of the instance's lease syncs it (see `lease.py`), and each page commits
only while that lease still holds.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.leases import worker_identity
from app.kit.secrets import SecretBox
from app.metrics.prometheus import SYNC_EVENTS, SYNC_FAILURES
from app.models import ConnectorInstance
from app.realtime.bus import Bus
from app.sync import instances
from app.sync.ingest import IngestResult, ingest_page, publish_ingested
from app.sync.lease import (
    LEASE,
    LeaseLost,
    acquire_lease,
    hold_lease,
    release_lease,
)
from connectors.base import AuthError, ChangePage, ConfigError, ConnectorError, RateLimited

log = logging.getLogger(__name__)
MAX_BACKOFF = 300.0
BUSY = "busy: another worker is syncing this connector now"


class InstanceDeleted(Exception):
    """The instance was deleted while its sync ran."""


@dataclass
class SyncReport:
    instance_id: int
    pages: int = 0
    tickets_created: int = 0
    tickets_updated: int = 0
    events_ingested: int = 0
    duplicates: int = 0
    own_writes: int = 0
    skipped: list[str] = field(default_factory=list)  # the connector's notes, one per item
    has_more: bool = False  # stopped at max_pages: the next pass is due at once
    busy: bool = False  # another worker holds the lease; nothing was done
    error: str | None = None
    event_ids: list[int] = field(default_factory=list)

    def add(self, result: IngestResult) -> None:
        self.pages += 1
        self.tickets_created += result.tickets_created
        self.tickets_updated += result.tickets_updated
        self.events_ingested += len(result.events)
        for event in result.events:
            SYNC_EVENTS.labels(connector=str(self.instance_id), kind=event.kind).inc()
        self.duplicates += result.duplicates
        self.own_writes += result.own_writes
        self.skipped += result.skipped
        self.event_ids += [e.id for e in result.events]


def backoff_seconds(failures: int, poll_interval: int, retry_after: float | None) -> float:
    """Exponential with full jitter, never sooner than the system asked for."""
    ceiling = min(MAX_BACKOFF, poll_interval * 2 ** min(failures, 10))
    delay = random.uniform(poll_interval, max(poll_interval, ceiling))  # noqa: S311
    return max(delay, retry_after or 0.0)


async def sync_instance(
    sessionmaker: async_sessionmaker[AsyncSession],
    bus: Bus,
    box: SecretBox,
    http: httpx.AsyncClient,
    instance_id: int,
    *,
    max_pages: int = 50,
    owner: str | None = None,
    lease: timedelta = LEASE,
) -> SyncReport:
    """Pull and store every change available now (up to `max_pages` pages).

    A worker passes the `owner` of the lease it holds; any other caller (the API, the CLI)
    takes the lease for the pass, and gets a `busy` report when a worker has it.
    """
    report = SyncReport(instance_id)
    async with unit_of_work(sessionmaker) as session:
        if await session.get(ConnectorInstance, instance_id) is None:
            raise LookupError(f"connector {instance_id} does not exist")
    if owner is not None:
        await _pass(sessionmaker, bus, box, http, report, owner, lease, max_pages)
        return report
    owner = worker_identity()
    if not await acquire_lease(sessionmaker, instance_id, owner, lease):
        report.busy, report.error = True, BUSY
        return report
    try:
        await _pass(sessionmaker, bus, box, http, report, owner, lease, max_pages)
    finally:
        await asyncio.shield(release_lease(sessionmaker, instance_id, owner))
    return report


async def _pass(
    sessionmaker: async_sessionmaker[AsyncSession],
    bus: Bus,
    box: SecretBox,
    http: httpx.AsyncClient,
    report: SyncReport,
    owner: str,
    lease: timedelta,
    max_pages: int,
) -> None:
    instance_id = report.instance_id
    # Read under the lease: the cursor is the one the previous owner committed last.
    async with unit_of_work(sessionmaker) as session:
        instance = await session.get(ConnectorInstance, instance_id)
    if instance is None:
        report.error = f"deleted: connector {instance_id} does not exist"
        return
    poll_interval = instance.poll_interval
    ahead: asyncio.Task[ChangePage] | None = None
    try:
        connector = instances.build(instance, box, http)
        fetch = ahead = asyncio.create_task(connector.changes_since(instance.cursor))
        for n in range(max_pages):
            page = await fetch
            ahead = None
            if page.has_more and n + 1 < max_pages:
                # Read the next page while this one is stored (the system's time overlaps
                # the database's); pages still commit one after the other, in order.
                fetch = ahead = asyncio.create_task(connector.changes_since(page.cursor))
            async with unit_of_work(sessionmaker) as session:
                await hold_lease(session, instance_id, owner, lease)
                instance = await session.get(ConnectorInstance, instance_id)
                if instance is None:
                    raise InstanceDeleted(f"connector {instance_id} was deleted during the sync")
                result = await ingest_page(session, instance, page)
                _record_success(instance, has_more=page.has_more)
                publish_ingested(session, bus, result)
            report.add(result)
            for note in result.skipped:
                log.warning("connector %s skipped an item: %s", instance_id, note)
            report.has_more = page.has_more
            if not page.has_more:
                break
    except LeaseLost as exc:
        # Not a failure of the remote system: the new owner carries on from our last page.
        log.warning("%s", exc)
        report.error = f"lease_lost: {exc}"
    except InstanceDeleted as exc:
        report.error = f"deleted: {exc}"
    except (ConnectorError, ValueError) as exc:
        report.error = await _record_failure(sessionmaker, instance_id, poll_interval, exc)
    except Exception as exc:
        log.exception("sync of connector %s failed unexpectedly", instance_id)
        report.error = await _record_failure(sessionmaker, instance_id, poll_interval, exc)
    finally:
        if ahead is not None:  # the pass ended early: drop the page read ahead
            ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)


def _record_success(instance: ConnectorInstance, *, has_more: bool) -> None:
    now = utcnow()
    instance.last_attempt_at = now
    instance.last_success_at = now
    instance.consecutive_failures = 0
    # A pass that worked proves the credentials again (an admin's manual sync of a
    # paused instance, say): polling resumes.
    instance.paused_reason = None
    more = timedelta(0) if has_more else timedelta(seconds=instance.poll_interval)
    instance.next_attempt_at = now + more


async def _record_failure(
    sessionmaker: async_sessionmaker[AsyncSession],
    instance_id: int,
    poll_interval: int,
    exc: Exception,
) -> str:
    if isinstance(exc, ConnectorError):
        message = f"{exc.code}: {exc.message}"
    elif isinstance(exc, ValueError):
        message = f"config_error: {exc}"
    else:
        message = f"internal_error: {type(exc).__name__}"
    async with unit_of_work(sessionmaker) as session:
        instance = await session.get(ConnectorInstance, instance_id)
        if instance is None:
            return message
        now = utcnow()
        instance.consecutive_failures += 1
        instance.last_attempt_at = now
        instance.last_error = message
        instance.last_error_at = now
        if isinstance(exc, AuthError | ConfigError):
            # Retrying a refused key only locks accounts: wait for an admin to fix it.
            instance.paused_reason = message
            instance.next_attempt_at = None
        else:
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            delay = backoff_seconds(instance.consecutive_failures, poll_interval, retry_after)
            instance.next_attempt_at = now + timedelta(seconds=delay)
    SYNC_FAILURES.labels(connector=str(instance_id), code=message.split(":", 1)[0]).inc()
    log.warning("sync of connector %s failed: %s", instance_id, message)
    return message
