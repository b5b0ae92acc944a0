from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.kit.clock import utcnow
from app.main import create_app
from app.models import ConnectorInstance, ConnectorWrite, Ticket, TicketEvent
from app.realtime.bus import MemoryBus
from app.runtime import Runtime
from app.sync.engine import sync_instance
from connectors import registry
from connectors.base import (
    AuthError,
    ChangeKind,
    ChangePage,
    RateLimited,
    TransientError,
    Visibility,
)
from tests.conftest import make_runtime
from tests.factories import create_connector, create_user
from tests.sync.scripted import ScriptedConnector, change


@pytest.fixture(autouse=True)
def scripted() -> type[ScriptedConnector]:
    registry.register(ScriptedConnector)
    ScriptedConnector.script = []
    ScriptedConnector.cursors_seen = []
    return ScriptedConnector


async def _sync(runtime: Runtime, instance_id: int) -> object:
    return await sync_instance(
        runtime.sessionmaker, runtime.bus, runtime.box, runtime.http, instance_id
    )


async def _count(session: AsyncSession, model: type[object], instance_id: int) -> int:
    column = getattr(model, "connector_id")  # noqa: B009 - both models have it
    return int(await session.scalar(select(func.count()).where(column == instance_id)) or 0)


class TestIngestion:
    async def test_pages_are_stored_once_with_their_cursor(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        async with db() as session:
            instance = await create_connector(session, kind="scripted")
            await session.commit()
        ScriptedConnector.script = [
            ChangePage([change("s1", "T1"), change("s2", "T1", minutes=1)], "c1", has_more=True),
            # overlap window: s2 comes again, s3 is new
            ChangePage([change("s2", "T1", minutes=1), change("s3", "T2", minutes=2)], "c2"),
        ]
        report = await _sync(runtime, instance.id)
        assert ScriptedConnector.cursors_seen == [None, "c1"]
        async with db() as session:
            assert await _count(session, TicketEvent, instance.id) == 3
            assert await _count(session, Ticket, instance.id) == 2
            stored = await session.get(ConnectorInstance, instance.id)
            assert stored is not None
            assert stored.cursor == "c2"
            assert stored.last_success_at is not None
            assert stored.last_error is None
        assert getattr(report, "duplicates") == 1  # noqa: B009

        # The same changes again (a restart replaying the last page): nothing doubles.
        ScriptedConnector.script = [ChangePage([change("s3", "T2", minutes=2)], "c2")]
        await _sync(runtime, instance.id)
        async with db() as session:
            assert await _count(session, TicketEvent, instance.id) == 3

    async def test_requesters_are_matched_to_users_by_email(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        async with db() as session:
            erin, _ = await create_user(session, email="erin.match@example.com")
            instance = await create_connector(session, kind="scripted")
            await session.commit()
        ScriptedConnector.script = [
            ChangePage([change("m1", "T9", requester="Erin.Match@Example.com")], "c")
        ]
        await _sync(runtime, instance.id)
        async with db() as session:
            ticket = await session.scalar(select(Ticket).where(Ticket.connector_id == instance.id))
            assert ticket is not None
            assert ticket.requester_user_id == erin.id

    async def test_comments_we_wrote_are_not_ingested_again(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        async with db() as session:
            instance = await create_connector(session, kind="scripted")
            await session.commit()
        ScriptedConnector.script = [ChangePage([change("w0", "T5")], "c0")]
        await _sync(runtime, instance.id)
        async with db() as session:
            ticket = await session.scalar(select(Ticket).where(Ticket.connector_id == instance.id))
            assert ticket is not None
            session.add(
                ConnectorWrite(
                    connector_id=instance.id,
                    ticket_id=ticket.id,
                    idempotency_key="chat:1",
                    external_comment_id="ext-77",
                    visibility="public",
                )
            )
            await session.commit()
        ScriptedConnector.script = [
            ChangePage(
                [
                    change("w1", "T5", comment_id="ext-77"),
                    change("w2", "T5", comment_id="ext-78", body="from the desk"),
                ],
                "c1",
            )
        ]
        report = await _sync(runtime, instance.id)
        assert getattr(report, "own_writes") == 1  # noqa: B009
        async with db() as session:
            bodies = (
                (
                    await session.execute(
                        select(TicketEvent.external_comment_id).where(
                            TicketEvent.connector_id == instance.id
                        )
                    )
                )
                .scalars()
                .all()
            )
            assert sorted(b for b in bodies if b) == ["ext-78"]

    async def test_events_are_published_after_commit(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        async with db() as session:
            instance = await create_connector(session, kind="scripted")
            await session.commit()
        ScriptedConnector.script = [
            ChangePage(
                [
                    change(
                        "p1",
                        "T7",
                        kind=ChangeKind.COMMENTED,
                        body="internal detail",
                        visibility=Visibility.INTERNAL,
                    )
                ],
                "c",
            )
        ]
        assert isinstance(runtime.bus, MemoryBus)
        async with runtime.bus.subscribe("tickets") as feed:
            await _sync(runtime, instance.id)
            envelope = await asyncio.wait_for(anext(feed), timeout=5)
        assert envelope == {"type": "tickets_changed", "count": 1}


class TestFailures:
    async def _instance(self, db: async_sessionmaker[AsyncSession]) -> int:
        async with db() as session:
            instance = await create_connector(session, kind="scripted")
            await session.commit()
            return instance.id

    async def _state(self, db: async_sessionmaker[AsyncSession], iid: int) -> ConnectorInstance:
        async with db() as session:
            instance = await session.get(ConnectorInstance, iid)
            assert instance is not None
            return instance

    async def test_auth_failure_pauses_the_instance_and_says_why(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        iid = await self._instance(db)
        ScriptedConnector.script = [AuthError("the API key was refused")]
        await _sync(runtime, iid)
        state = await self._state(db, iid)
        assert state.paused_reason == "auth_failed: the API key was refused"
        assert state.next_attempt_at is None
        assert state.consecutive_failures == 1

    async def test_transient_failure_backs_off_and_keeps_the_cursor(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        iid = await self._instance(db)
        ScriptedConnector.script = [
            ChangePage([change("t1", "T1")], "good", has_more=True),
            TransientError("connection refused"),
        ]
        before = utcnow()
        await _sync(runtime, iid)
        state = await self._state(db, iid)
        assert state.cursor == "good"
        assert state.paused_reason is None
        assert state.last_error == "transient: connection refused"
        assert state.next_attempt_at is not None
        assert state.next_attempt_at > before

    async def test_rate_limit_waits_at_least_retry_after(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        iid = await self._instance(db)
        ScriptedConnector.script = [RateLimited("slow down", retry_after=600)]
        before = utcnow()
        await _sync(runtime, iid)
        state = await self._state(db, iid)
        assert state.next_attempt_at is not None
        assert (state.next_attempt_at - before).total_seconds() >= 600


async def test_http_sync_endpoint_reports_what_it_ingested(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    from app.models import Role
    from tests.factories import auth

    _, admin = await create_user(session, role=Role.ADMIN)
    instance = await create_connector(session, kind="scripted")
    await session.commit()
    ScriptedConnector.script = [ChangePage([change("h1", "H1"), change("h2", "H1")], "c")]
    response = await client.post(f"/api/v1/connectors/{instance.id}/sync", headers=auth(admin))
    assert response.status_code == 200, response.text
    assert response.json()["events_ingested"] == 2
    assert response.json()["tickets_created"] == 1


async def test_http_sync_answers_promptly_with_the_result_on_a_real_pool(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    """The request's session must not hold a connection while the sync opens its own: on
    SQLite the pool has one, and the sync waited for it 60 s, then failed (a 500)."""
    from app.models import Role
    from tests.factories import auth

    async with committed_db() as session:
        _, admin = await create_user(session, role=Role.ADMIN)
        instance = await create_connector(session, kind="scripted")
        await session.commit()
    ScriptedConnector.script = [ChangePage([change("p1", "P1"), change("p2", "P2")], "c")]
    runtime = make_runtime(settings, committed_db)  # the app's own sessions, real commits
    transport = httpx.ASGITransport(app=create_app(settings, runtime=runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await asyncio.wait_for(
                client.post(f"/api/v1/connectors/{instance.id}/sync", headers=auth(admin)),
                timeout=10,
            )
    finally:
        await runtime.http.aclose()
    assert response.status_code == 200, response.text
    assert response.json()["tickets_created"] == 2
    assert response.json()["events_ingested"] == 2
    async with committed_db() as session:
        assert await _count(session, Ticket, instance.id) == 2
        stored = await session.get(ConnectorInstance, instance.id)
        assert stored is not None
        assert stored.cursor == "c"
        assert stored.last_success_at is not None
