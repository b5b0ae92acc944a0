"""One owner per instance: the lease keeps two pollers apart and fences a late one."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import ClassVar

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.clock import utcnow
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance, Role, TicketEvent
from app.realtime.bus import MemoryBus
from app.runtime import Runtime
from app.sync.engine import sync_instance
from app.sync.lease import acquire_lease
from app.sync.worker import SyncWorker, due_instances
from connectors import registry
from connectors.base import ChangePage
from tests.conftest import TEST_SECRET_KEY
from tests.factories import auth, create_connector, create_user
from tests.sync.scripted import ScriptedConnector, change


async def _instance(db: async_sessionmaker[AsyncSession], kind: str = "scripted") -> int:
    async with db() as session:
        instance = await create_connector(session, kind=kind)
        await session.commit()
        return instance.id


async def _events(db: async_sessionmaker[AsyncSession], iid: int) -> int:
    async with db() as session:
        stmt = select(func.count()).where(TicketEvent.connector_id == iid)
        return int(await session.scalar(stmt) or 0)


class TestManualSync:
    async def test_waits_for_no_one_but_refuses_while_a_worker_holds_the_lease(
        self,
        runtime: Runtime,
        client: httpx.AsyncClient,
        db: async_sessionmaker[AsyncSession],
    ) -> None:
        iid = await _instance(db)
        async with db() as session:
            _, admin = await create_user(session, role=Role.ADMIN)
            await session.commit()
        assert await acquire_lease(db, iid, "worker-elsewhere")
        ScriptedConnector.script = [ChangePage([change("b1", "T1")], "c")]
        report = await sync_instance(
            runtime.sessionmaker, runtime.bus, runtime.box, runtime.http, iid
        )
        assert report.busy
        assert ScriptedConnector.cursors_seen == []  # the system was not even asked
        response = await client.post(f"/api/v1/connectors/{iid}/sync", headers=auth(admin))
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "sync_in_progress"
        assert iid not in await due_instances(db)

    async def test_an_expired_lease_is_taken_over(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        iid = await _instance(db)
        assert await acquire_lease(db, iid, "dead-worker", timedelta(seconds=-1))
        assert iid in await due_instances(db)
        ScriptedConnector.script = [ChangePage([change("e1", "T1")], "c")]
        report = await sync_instance(
            runtime.sessionmaker, runtime.bus, runtime.box, runtime.http, iid
        )
        assert (report.busy, report.events_ingested) == (False, 1)
        async with db() as session:
            state = await session.get(ConnectorInstance, iid)
            assert state is not None
            assert state.lease_owner is None  # released after the pass


class TestFencing:
    async def test_a_page_fetched_after_the_lease_was_lost_is_not_stored(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        iid = await _instance(db)

        async def steal() -> None:
            async with db() as session:
                await session.execute(
                    update(ConnectorInstance)
                    .where(ConnectorInstance.id == iid)
                    .values(lease_owner="another-worker", lease_expires_at=utcnow())
                )
                await session.commit()

        ScriptedConnector.script = [ChangePage([change("f1", "T1")], "c1", has_more=True)]
        original = ScriptedConnector.changes_since

        async def changes_since(self: ScriptedConnector, cursor: str | None) -> ChangePage:
            if cursor == "c1":  # the worker stalled; its lease ran out and was taken over
                await steal()
                return ChangePage([change("f2", "T1")], "c2")
            return await original(self, cursor)

        ScriptedConnector.changes_since = changes_since  # type: ignore[method-assign]
        try:
            report = await sync_instance(
                runtime.sessionmaker, runtime.bus, runtime.box, runtime.http, iid
            )
        finally:
            ScriptedConnector.changes_since = original  # type: ignore[method-assign]
        assert report.error is not None
        assert report.error.startswith("lease_lost")
        async with db() as session:
            state = await session.get(ConnectorInstance, iid)
            assert state is not None
            assert state.lease_owner == "another-worker"
            assert state.cursor in (None, "c1")  # never the page read after the takeover
            assert state.consecutive_failures == 0  # not the remote system's fault
            stored = await session.scalar(select(func.count()).where(TicketEvent.source_id == "f2"))
            assert stored == 0


class SlowConnector(ScriptedConnector):
    """Takes a while per page and counts how many polls run at once."""

    kind = "scripted_slow"
    in_flight: ClassVar[int] = 0
    most: ClassVar[int] = 0

    async def changes_since(self, cursor: str | None) -> ChangePage:
        SlowConnector.in_flight += 1
        SlowConnector.most = max(SlowConnector.most, SlowConnector.in_flight)
        try:
            await asyncio.sleep(0.1)
            return await super().changes_since(cursor)
        finally:
            SlowConnector.in_flight -= 1


async def test_two_workers_never_poll_one_instance_at_once(
    committed_db: async_sessionmaker[AsyncSession],
) -> None:
    registry.register(SlowConnector)
    SlowConnector.in_flight = SlowConnector.most = 0
    iid = await _instance(committed_db, kind="scripted_slow")
    ScriptedConnector.script = [
        ChangePage([change(f"w{n}", f"T{n % 3}", minutes=n)], f"c{n}", has_more=n < 7)
        for n in range(8)
    ]
    box = SecretBox(TEST_SECRET_KEY)
    workers = [SyncWorker(committed_db, MemoryBus(), box, tick=0.02) for _ in range(2)]
    assert workers[0].owner != workers[1].owner  # one process, two owners
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        for _ in range(100):
            if await _events(committed_db, iid) == 8:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert await _events(committed_db, iid) == 8
    assert SlowConnector.most == 1
