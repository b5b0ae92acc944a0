"""The sync worker: polls every due instance, one owner per instance across processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import timedelta

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance
from app.realtime.bus import Bus
from app.sync.engine import sync_instance
from app.sync.instances import new_http_client

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=120)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def acquire_lease(
    sessionmaker: async_sessionmaker[AsyncSession], instance_id: int, owner: str
) -> bool:
    """Atomically take (or renew) the instance's lease; False if another worker holds it."""
    now = utcnow()
    async with unit_of_work(sessionmaker) as session:
        result = await session.execute(
            update(ConnectorInstance)
            .where(
                ConnectorInstance.id == instance_id,
                or_(
                    ConnectorInstance.lease_owner.is_(None),
                    ConnectorInstance.lease_owner == owner,
                    ConnectorInstance.lease_expires_at < now,
                ),
            )
            .values(lease_owner=owner, lease_expires_at=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


async def release_lease(
    sessionmaker: async_sessionmaker[AsyncSession], instance_id: int, owner: str
) -> None:
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(ConnectorInstance)
            .where(ConnectorInstance.id == instance_id, ConnectorInstance.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )


async def due_instances(sessionmaker: async_sessionmaker[AsyncSession]) -> list[int]:
    now = utcnow()
    async with unit_of_work(sessionmaker) as session:
        stmt = select(ConnectorInstance.id).where(
            ConnectorInstance.enabled.is_(True),
            ConnectorInstance.paused_reason.is_(None),
            or_(
                ConnectorInstance.next_attempt_at.is_(None),
                ConnectorInstance.next_attempt_at <= now,
            ),
        )
        return list((await session.execute(stmt)).scalars())


class SyncWorker:
    """Runs until `stop` is set; each due instance syncs in its own task."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        bus: Bus,
        box: SecretBox,
        *,
        tick: float = 1.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.bus = bus
        self.box = box
        self.tick = tick
        self.owner = worker_identity()
        self._http = http
        self._running: dict[int, asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        http = self._http or new_http_client()
        try:
            while not stop.is_set():
                try:
                    for instance_id in await due_instances(self.sessionmaker):
                        if instance_id not in self._running:
                            task = asyncio.create_task(self._sync_one(http, instance_id))
                            self._running[instance_id] = task
                except Exception:
                    log.exception("sync scheduler tick failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.tick)
        finally:
            for task in self._running.values():
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)
            if self._http is None:
                await http.aclose()

    async def _sync_one(self, http: httpx.AsyncClient, instance_id: int) -> None:
        try:
            if not await acquire_lease(self.sessionmaker, instance_id, self.owner):
                return
            try:
                report = await sync_instance(
                    self.sessionmaker, self.bus, self.box, http, instance_id
                )
                if report.events_ingested:
                    log.info("connector %s: %s new events", instance_id, report.events_ingested)
            finally:
                await asyncio.shield(release_lease(self.sessionmaker, instance_id, self.owner))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sync of connector %s crashed", instance_id)
        finally:
            self._running.pop(instance_id, None)
