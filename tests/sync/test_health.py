"""What an admin sees of a connector's sync: skipped items, backoff, pauses, catch-up."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.clock import utcnow
from app.models import ConnectorInstance, Role
from app.runtime import Runtime
from app.sync.engine import MAX_BACKOFF, SyncReport, backoff_seconds, sync_instance
from connectors.base import AuthError, ChangePage, TransientError
from tests.factories import auth, create_connector, create_user
from tests.sync.scripted import ScriptedConnector, change


async def _sync(runtime: Runtime, instance_id: int, max_pages: int = 50) -> SyncReport:
    return await sync_instance(
        runtime.sessionmaker,
        runtime.bus,
        runtime.box,
        runtime.http,
        instance_id,
        max_pages=max_pages,
    )


async def _health(client: httpx.AsyncClient, token: str, instance_id: int) -> dict[str, object]:
    response = await client.get(f"/api/v1/connectors/{instance_id}", headers=auth(token))
    assert response.status_code == 200, response.text
    health: dict[str, object] = response.json()["health"]
    return health


@pytest.fixture
async def admin(session: AsyncSession) -> str:
    _, token = await create_user(session, role=Role.ADMIN)
    await session.commit()
    return token


async def _instance(db: async_sessionmaker[AsyncSession], poll_interval: int = 10) -> int:
    async with db() as session:
        instance = await create_connector(session, kind="scripted")
        instance.poll_interval = poll_interval
        await session.commit()
        return instance.id


class TestMalformedItems:
    async def test_are_skipped_counted_and_shown_while_the_sync_goes_on(
        self,
        runtime: Runtime,
        client: httpx.AsyncClient,
        db: async_sessionmaker[AsyncSession],
        admin: str,
    ) -> None:
        iid = await _instance(db)
        assert (await _health(client, admin, iid))["state"] == "never_synced"
        ScriptedConnector.script = [
            ChangePage(
                [change("k1", "T1")],
                "c1",
                has_more=True,
                notes=["issue #7: skipped (malformed: status: field required)"],
            ),
            ChangePage(
                [change("k2", "T2")],
                "c2",
                notes=["journal 9: skipped, malformed", "journal 10: skipped, malformed"],
            ),
        ]
        report = await _sync(runtime, iid)
        assert (report.error, report.events_ingested, len(report.skipped)) == (None, 2, 3)
        health = await _health(client, admin, iid)
        assert health["state"] == "ok"
        assert health["skipped_items"] == 3
        assert health["last_skipped"] == [
            "journal 9: skipped, malformed",
            "journal 10: skipped, malformed",
        ]
        assert health["last_skipped_at"] is not None
        response = await client.post(f"/api/v1/connectors/{iid}/sync", headers=auth(admin))
        assert response.json()["skipped"] == []


class TestBackoff:
    def test_grows_exponentially_with_jitter_and_a_ceiling(self) -> None:
        for failures in range(1, 12):
            ceiling = min(MAX_BACKOFF, 10 * 2**failures)
            delays = {backoff_seconds(failures, 10, None) for _ in range(50)}
            assert all(10 <= d <= ceiling for d in delays)
            assert len(delays) > 1  # jitter: replicas do not retry in lockstep
        assert max(backoff_seconds(30, 10, None) for _ in range(50)) <= MAX_BACKOFF

    def test_never_sooner_than_retry_after(self) -> None:
        assert backoff_seconds(1, 10, 900.0) == 900.0

    async def test_consecutive_failures_push_the_next_attempt_further(
        self,
        runtime: Runtime,
        client: httpx.AsyncClient,
        db: async_sessionmaker[AsyncSession],
        admin: str,
    ) -> None:
        iid = await _instance(db)
        ScriptedConnector.script = [TransientError("connection refused")] * 3
        for failures in (1, 2, 3):
            before = utcnow()
            await _sync(runtime, iid)
            health = await _health(client, admin, iid)
            assert (health["state"], health["consecutive_failures"]) == ("failing", failures)
            async with db() as session:
                state = await session.get(ConnectorInstance, iid)
                assert state is not None
                assert state.next_attempt_at is not None
                wait = (state.next_attempt_at - before).total_seconds()
            assert 10 <= wait <= 10 * 2**failures + 1


class TestPause:
    async def test_an_auth_failure_pauses_and_a_working_manual_sync_resumes(
        self,
        runtime: Runtime,
        client: httpx.AsyncClient,
        db: async_sessionmaker[AsyncSession],
        admin: str,
    ) -> None:
        iid = await _instance(db)
        ScriptedConnector.script = [AuthError("the API key was refused")]
        await _sync(runtime, iid)
        health = await _health(client, admin, iid)
        assert health["state"] == "paused"
        assert health["paused_reason"] == "auth_failed: the API key was refused"
        assert health["next_attempt_at"] is None
        ScriptedConnector.script = [ChangePage([change("p1", "T1")], "c")]
        response = await client.post(f"/api/v1/connectors/{iid}/sync", headers=auth(admin))
        assert response.json()["error"] is None
        health = await _health(client, admin, iid)
        assert (health["state"], health["paused_reason"]) == ("ok", None)
        assert health["next_attempt_at"] is not None


class TestCatchUp:
    async def test_a_pass_cut_short_by_max_pages_is_due_again_at_once(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        iid = await _instance(db, poll_interval=600)
        ScriptedConnector.script = [
            ChangePage([change(f"m{n}", "T1", minutes=n)], f"c{n}", has_more=True) for n in range(3)
        ]
        report = await _sync(runtime, iid, max_pages=2)
        assert (report.pages, report.has_more) == (2, True)
        async with db() as session:
            state = await session.get(ConnectorInstance, iid)
            assert state is not None
            assert state.next_attempt_at is not None
            assert state.next_attempt_at <= utcnow()
            assert state.cursor == "c1"
        await _sync(runtime, iid)
        async with db() as session:
            state = await session.get(ConnectorInstance, iid)
            assert state is not None
            assert state.next_attempt_at is not None
            assert state.next_attempt_at > utcnow() + timedelta(seconds=500)
