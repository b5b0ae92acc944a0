"""Helpers for the end-to-end sync tests: the service's API as an admin uses it, the
ticketing systems' REST APIs as their users do, a TCP proxy to cut the network, and a
worker process that can be killed mid-sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.models import Role
from tests.conftest import TEST_SECRET_KEY
from tests.factories import auth, create_user


class ServiceAPI:
    """Socialdesk's HTTP API; every response body is kept, to look for leaked secrets."""

    def __init__(self, client: httpx.AsyncClient, admin_token: str) -> None:
        self.client = client
        self.admin = auth(admin_token)
        self.bodies: list[str] = []

    async def _call(self, method: str, url: str, token: str | None = None, **kw: Any) -> Any:
        headers = auth(token) if token else self.admin
        response = await self.client.request(method, url, headers=headers, **kw)
        self.bodies.append(response.text)
        return response

    async def add(self, **body: Any) -> httpx.Response:
        response: httpx.Response = await self._call("POST", "/api/v1/connectors", json=body)
        return response

    async def patch(self, connector_id: int, **body: Any) -> httpx.Response:
        response: httpx.Response = await self._call(
            "PATCH", f"/api/v1/connectors/{connector_id}", json=body
        )
        return response

    async def connector(self, connector_id: int) -> dict[str, Any]:
        response = await self._call("GET", f"/api/v1/connectors/{connector_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def sync(self, connector_id: int) -> dict[str, Any]:
        response = await self._call("POST", f"/api/v1/connectors/{connector_id}/sync")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def tickets(self, connector_id: int, token: str | None = None) -> list[dict[str, Any]]:
        response = await self._call(
            "GET", "/api/v1/tickets", token, params={"connector_id": connector_id, "limit": 200}
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def ticket(self, connector_id: int, external_id: int | str) -> dict[str, Any]:
        found = [
            t for t in await self.tickets(connector_id) if t["external_id"] == str(external_id)
        ]
        assert len(found) == 1, f"ticket {external_id} of connector {connector_id}: {found}"
        return found[0]

    async def timeline(self, ticket_id: int, token: str | None = None) -> list[dict[str, Any]]:
        response = await self._call(
            "GET", f"/api/v1/tickets/{ticket_id}/timeline", token, params={"limit": 200}
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def status(self, url: str, token: str) -> int:
        response = await self._call("GET", url, token)
        return int(response.status_code)


async def admin_api(client: httpx.AsyncClient, session: AsyncSession) -> ServiceAPI:
    _, token = await create_user(session, role=Role.ADMIN)
    await session.commit()
    return ServiceAPI(client, token)


def leaks(texts: list[str], *secrets: str) -> list[str]:
    """The texts that contain any of the secrets."""
    return [t for t in texts if any(s and s in t for s in secrets)]


class TCPProxy:
    """A loopback TCP forwarder: `cut()` is a network outage, `restore()` ends it."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


# A real worker process: the service's SyncWorker with a short lease, against a system
# made slow (a pause after each page of `PAGE` changes), printing a JSON line when each
# sync pass starts and ends, so a test can kill it mid-sync and compare the timelines.
WORKER_PROCESS = """
import asyncio, json, os, signal, sys, time
from datetime import timedelta

from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.kit.secrets import SecretBox
from app.realtime.bus import MemoryBus
from app.sync import worker
import connectors.redmine.connector as redmine

redmine.MAX_CHANGES = int(os.environ["SYNC_TEST_PAGE"])
pause = float(os.environ["SYNC_TEST_PAUSE"])
slow_changes = redmine.RedmineConnector.changes_since


async def changes_since(self, cursor):
    page = await slow_changes(self, cursor)
    await asyncio.sleep(pause)
    return page


redmine.RedmineConnector.changes_since = changes_since
real_sync = worker.sync_instance


def say(**data):
    print(json.dumps({"pid": os.getpid(), "t": time.time(), **data}), flush=True)


async def sync_instance(*args, **kwargs):
    say(event="start")
    report = await real_sync(*args, **kwargs)
    say(event="end", events=report.events_ingested, duplicates=report.duplicates,
        error=report.error)
    return report


worker.sync_instance = sync_instance


async def main():
    settings = Settings()
    engine = create_engine(settings)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    lease = timedelta(seconds=float(os.environ["SYNC_TEST_LEASE"]))
    sync_worker = worker.SyncWorker(
        create_sessionmaker(engine), MemoryBus(), SecretBox(settings.require_secret_key()),
        tick=0.1, lease=lease,
    )
    say(event="ready", owner=sync_worker.owner)
    await sync_worker.run(stop)
    await engine.dispose()


asyncio.run(main())
"""


def start_worker_process(
    settings: Settings, repo_root: Path, *, page: int, pause: float, lease: float
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
    env.update(
        SOCIALDESK_DATABASE_URL=settings.database_url,
        SOCIALDESK_SECRET_KEY=TEST_SECRET_KEY,
        SOCIALDESK_LOG_LEVEL="warning",
        SYNC_TEST_PAGE=str(page),
        SYNC_TEST_PAUSE=str(pause),
        SYNC_TEST_LEASE=str(lease),
    )
    return subprocess.Popen(
        [sys.executable, "-c", WORKER_PROCESS],
        env=env,
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def worker_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
