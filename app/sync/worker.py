"""The sync worker: polls every due instance, one owner per instance across processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import httpx
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.leases import worker_identity
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance
from app.realtime.bus import Bus
from app.sync.engine import sync_instance
from app.sync.instances import new_http_client
from app.sync.lease import LEASE, acquire_lease, release_lease

__all__ = ["LEASE", "SyncWorker", "acquire_lease", "due_instances", "worker_identity"]

log = logging.getLogger(__name__)


async def due_instances(sessionmaker: async_sessionmaker[AsyncSession]) -> list[int]:
    """Enabled, unpaused instances whose next attempt is due and whose lease is free."""
    now = utcnow()
    async with unit_of_work(sessionmaker) as session:
        stmt = select(ConnectorInstance.id).where(
            ConnectorInstance.enabled.is_(True),
            ConnectorInstance.paused_reason.is_(None),
            or_(
                ConnectorInstance.next_attempt_at.is_(None),
                ConnectorInstance.next_attempt_at <= now,
            ),
            or_(
                ConnectorInstance.lease_expires_at.is_(None),
                ConnectorInstance.lease_expires_at < now,
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
        lease: timedelta = LEASE,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.bus = bus
        self.box = box
        self.tick = tick
        self.lease = lease
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
            if not await acquire_lease(self.sessionmaker, instance_id, self.owner, self.lease):
                return
            try:
                report = await sync_instance(
                    self.sessionmaker,
                    self.bus,
                    self.box,
                    http,
                    instance_id,
                    owner=self.owner,
                    lease=self.lease,
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
