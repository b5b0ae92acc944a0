from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.main import create_app
from app.runtime import Runtime
from tests.conftest import make_runtime


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


async def test_metrics_are_exposed_for_prometheus(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "python_info" in response.text


@pytest.fixture
async def broken_db_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    bad = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
    )
    engine = create_engine(bad)
    runtime: Runtime = make_runtime(bad, create_sessionmaker(engine))
    app = create_app(bad, runtime=runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client
    await runtime.http.aclose()
    await engine.dispose()


async def test_readyz_says_when_the_database_is_down(
    broken_db_client: httpx.AsyncClient,
) -> None:
    response = await broken_db_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"


async def test_unknown_route_and_method_use_the_error_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = await client.delete("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


async def test_a_crash_is_a_500_without_internals(runtime: Runtime) -> None:
    app: FastAPI = create_app(runtime.settings, runtime=runtime)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret database password is hunter2")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error", "details": None}
    }
    assert "hunter2" not in response.text


def test_database_urls_people_paste_get_the_async_driver() -> None:
    assert Settings(database_url="postgres://u@h/db").database_url == "postgresql+asyncpg://u@h/db"
    assert Settings(database_url="sqlite:///x.db").database_url == "sqlite+aiosqlite:///x.db"


async def test_metrics_report_sync_lag_per_connector(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    from datetime import timedelta

    from app.kit.clock import utcnow
    from tests.factories import create_connector

    connector = await create_connector(session)
    connector.name = "Lagging desk"
    connector.last_success_at = utcnow() - timedelta(minutes=5)
    connector.paused_reason = "auth_failed: key refused"
    await session.commit()
    text = (await client.get("/metrics")).text
    lag = next(
        line
        for line in text.splitlines()
        if line.startswith('socialdesk_connector_sync_lag_seconds{connector="Lagging desk"}')
    )
    assert 299 < float(lag.split()[-1]) < 400
    assert 'socialdesk_connector_paused{connector="Lagging desk"} 1.0' in text


async def test_metrics_report_outbox_depth_and_age(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    from datetime import timedelta

    from app.kit.clock import utcnow
    from app.models import Delivery

    for n in range(3):
        session.add(
            Delivery(
                idempotency_key=f"metrics:{n}",
                event_key="metrics:e",
                recipient_key=f"user:{n}",
                channel="email",
                timing="send",
                status="pending",
                deliver_at=utcnow() - timedelta(minutes=10),
            )
        )
    await session.commit()
    text = (await client.get("/metrics")).text
    assert 'socialdesk_outbox_depth{status="pending"} 3.0' in text
    oldest = next(
        line
        for line in text.splitlines()
        if line.startswith("socialdesk_outbox_oldest_age_seconds ")
    )
    assert float(oldest.split()[-1]) >= 600


async def test_policy_decisions_are_counted_by_outcome(session: AsyncSession) -> None:
    from prometheus_client import REGISTRY

    from app.kit.clock import utcnow
    from app.models import TicketEvent
    from app.policy.decisions.ticket_events import notify_ticket_events
    from tests.factories import create_ticket, create_user

    def count(outcome: str) -> float:
        value = REGISTRY.get_sample_value("socialdesk_policy_decisions_total", {"outcome": outcome})
        return value or 0.0

    erin, _ = await create_user(session)
    ticket = await create_ticket(session, requester=erin)
    event = TicketEvent(
        connector_id=ticket.connector_id,
        ticket_id=ticket.id,
        source_id="prom:1",
        kind="ticket.commented",
        visibility="internal",
        body="db01 rebooted",
        occurred_at=utcnow(),
    )
    session.add(event)
    await session.flush()
    before = count("suppress")
    decisions = await notify_ticket_events(session, [event])
    suppressed = sum(1 for d in decisions if d.outcome == "suppress")
    assert suppressed > 0
    assert count("suppress") - before == suppressed
