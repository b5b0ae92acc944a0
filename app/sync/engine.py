"""One sync pass over one connector instance: fetch pages, commit each with its cursor.

Failures are mapped by the connector onto a small taxonomy and handled the same way for
every system: back off (honouring Retry-After), pause on auth failure, record health.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance
from app.realtime.bus import Bus
from app.sync import instances
from app.sync.ingest import ingest_page, publish_ingested
from connectors.base import AuthError, ConfigError, ConnectorError, RateLimited

log = logging.getLogger(__name__)
MAX_BACKOFF = 300.0


@dataclass
class SyncReport:
    instance_id: int
    pages: int = 0
    tickets_created: int = 0
    tickets_updated: int = 0
    events_ingested: int = 0
    duplicates: int = 0
    own_writes: int = 0
    error: str | None = None
    event_ids: list[int] = field(default_factory=list)


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
) -> SyncReport:
    """Pull and store every change available now (up to `max_pages` pages)."""
    report = SyncReport(instance_id)
    async with unit_of_work(sessionmaker) as session:
        instance = await session.get(ConnectorInstance, instance_id)
        if instance is None:
            raise LookupError(f"connector {instance_id} does not exist")
        cursor = instance.cursor
        poll_interval = instance.poll_interval
    try:
        connector = instances.build(instance, box, http)
        for _ in range(max_pages):
            page = await connector.changes_since(cursor)
            async with unit_of_work(sessionmaker) as session:
                instance = await session.get(ConnectorInstance, instance_id)
                assert instance is not None
                result = await ingest_page(session, instance, page)
                _record_success(instance)
                publish_ingested(session, bus, result)
            report.pages += 1
            report.tickets_created += result.tickets_created
            report.tickets_updated += result.tickets_updated
            report.events_ingested += len(result.events)
            report.duplicates += result.duplicates
            report.own_writes += result.own_writes
            report.event_ids += [e.id for e in result.events]
            cursor = page.cursor
            if not page.has_more:
                break
    except (ConnectorError, ValueError) as exc:
        report.error = await _record_failure(sessionmaker, instance_id, poll_interval, exc)
    except Exception as exc:
        log.exception("sync of connector %s failed unexpectedly", instance_id)
        report.error = await _record_failure(sessionmaker, instance_id, poll_interval, exc)
    return report


def _record_success(instance: ConnectorInstance) -> None:
    now = utcnow()
    instance.last_attempt_at = now
    instance.last_success_at = now
    instance.consecutive_failures = 0
    instance.next_attempt_at = now + timedelta(seconds=instance.poll_interval)


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
    log.warning("sync of connector %s failed: %s", instance_id, message)
    return message
