"""Prometheus metrics for operators; names are `socialdesk_*`.

Counters are incremented where things happen. Gauges that describe stored state (sync
lag, outbox depth) are refreshed from the database at scrape time by the refreshers that
domains register here, so every replica reports the same truth.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.models import ConnectorInstance

SYNC_EVENTS = Counter(
    "socialdesk_sync_events_total", "Ticket changes ingested", ["connector", "kind"]
)
SYNC_FAILURES = Counter(
    "socialdesk_sync_failures_total", "Failed sync passes", ["connector", "code"]
)
SYNC_LAG = Gauge(
    "socialdesk_connector_sync_lag_seconds",
    "Seconds since the last successful sync",
    ["connector"],
)
CONNECTOR_PAUSED = Gauge(
    "socialdesk_connector_paused", "1 when the connector waits for an admin", ["connector"]
)
WS_CONNECTIONS = Gauge("socialdesk_ws_connections", "Open WebSocket connections")
CHAT_MESSAGES = Counter("socialdesk_chat_messages_total", "Chat messages", ["visibility"])
DELIVERIES = Counter("socialdesk_deliveries_total", "Delivery attempts", ["channel", "outcome"])
OUTBOX_DEPTH = Gauge("socialdesk_outbox_depth", "Deliveries waiting", ["status"])
OUTBOX_OLDEST = Gauge("socialdesk_outbox_oldest_age_seconds", "Age of the oldest due delivery")
POLICY_DECISIONS = Counter("socialdesk_policy_decisions_total", "Policy decisions", ["outcome"])

Refresher = Callable[[AsyncSession], Awaitable[None]]
REFRESHERS: list[Refresher] = []


async def refresh_connectors(session: AsyncSession) -> None:
    now = utcnow()
    rows = await session.execute(
        select(
            ConnectorInstance.name,
            ConnectorInstance.last_success_at,
            ConnectorInstance.paused_reason,
        )
    )
    for name, last_success, paused in rows:
        if last_success is not None:
            SYNC_LAG.labels(connector=name).set((now - last_success).total_seconds())
        CONNECTOR_PAUSED.labels(connector=name).set(1 if paused else 0)


async def refresh_outbox(session: AsyncSession) -> None:
    from app.models import Delivery  # the outbox's table; read-only here

    rows = await session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    for status, count in rows.all():
        OUTBOX_DEPTH.labels(status=status).set(count)
    oldest = await session.scalar(
        select(func.min(Delivery.deliver_at)).where(
            Delivery.status == "pending", Delivery.deliver_at <= utcnow()
        )
    )
    OUTBOX_OLDEST.set((utcnow() - oldest).total_seconds() if oldest is not None else 0)


REFRESHERS.append(refresh_connectors)
REFRESHERS.append(refresh_outbox)


async def refresh(session: AsyncSession) -> None:
    """Bring the state gauges up to date before an exposition."""
    for refresher in REFRESHERS:
        await refresher(session)
