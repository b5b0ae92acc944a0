"""While a request waits on a ticketing system, the rest of the service keeps answering.

On SQLite the process has one database connection: a request that held it while a remote
system took its time (up to the 20 s HTTP timeout) stalled every other request and the
live-chat writer. These run on the app's own pooled sessions (`committed_db`, as served).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import sessions
from app.config import Settings
from app.main import create_app
from app.models import ConnectorInstance, Role
from connectors import registry
from connectors.base import Health
from tests.conftest import make_runtime
from tests.factories import auth, create_connector, create_user
from tests.sync.scripted import ScriptedConnector


class SlowSystem(ScriptedConnector):
    """A system whose health check answers only when the test lets it."""

    kind = "scripted_slow"
    asked: ClassVar[asyncio.Event]
    answer: ClassVar[asyncio.Event]

    async def check(self) -> Health:
        SlowSystem.asked.set()
        await SlowSystem.answer.wait()
        return await super().check()


@pytest.fixture
async def desk(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession]
) -> AsyncIterator[tuple[httpx.AsyncClient, str, str, ConnectorInstance]]:
    """A client on the app as served; an admin token, a web session cookie + CSRF, and a
    connector of the slow kind."""
    registry.register(SlowSystem)
    SlowSystem.asked, SlowSystem.answer = asyncio.Event(), asyncio.Event()
    async with committed_db() as session:
        admin, token = await create_user(session, role=Role.ADMIN)
        cookie, row = await sessions.do_start_session(session, user=admin)
        instance = await create_connector(session, kind="scripted_slow")
        instance.remote_identity = "scripted:1"  # what its check reports
        await session.commit()
    runtime = make_runtime(settings, committed_db)
    transport = httpx.ASGITransport(app=create_app(settings, runtime=runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.cookies.set(sessions.COOKIE, cookie)
            yield client, token, row.csrf_token, instance
    finally:
        SlowSystem.answer.set()
        await runtime.http.aclose()


Call = Callable[
    [httpx.AsyncClient, str, str, ConnectorInstance], Coroutine[Any, Any, httpx.Response]
]

CALLS: dict[str, Call] = {
    "api check": lambda c, token, _, i: c.post(
        f"/api/v1/connectors/{i.id}/check", headers=auth(token)
    ),
    "api settings change": lambda c, token, _, i: c.patch(
        f"/api/v1/connectors/{i.id}", json={"settings": {"note": "x"}}, headers=auth(token)
    ),
    "api add": lambda c, token, _, i: c.post(
        "/api/v1/connectors",
        json={"kind": "scripted_slow", "name": "second", "settings": {"scope": "2"}},
        headers=auth(token),
    ),
    "web settings change": lambda c, _, csrf, i: c.post(
        f"/admin/connectors/{i.id}",
        data={"csrf": csrf, "name": i.name, "settings": "note=x", "enabled": "on"},
    ),
    "web add": lambda c, _, csrf, i: c.post(
        "/admin/connectors",
        data={"csrf": csrf, "kind": "scripted_slow", "name": "second", "settings": "scope=2"},
    ),
}


@pytest.mark.parametrize("call", list(CALLS))
async def test_other_requests_are_answered_while_a_system_is_checked(
    desk: tuple[httpx.AsyncClient, str, str, ConnectorInstance], call: str
) -> None:
    client, token, csrf, instance = desk
    waiting = asyncio.create_task(CALLS[call](client, token, csrf, instance))
    await asyncio.wait_for(SlowSystem.asked.wait(), 10)
    # The system has not answered yet; someone else's request needs the database.
    me = await asyncio.wait_for(client.get("/api/v1/me", headers=auth(token)), 5)
    assert me.status_code == 200, me.text
    assert not waiting.done()
    SlowSystem.answer.set()
    response = await asyncio.wait_for(waiting, 10)
    assert response.status_code in (200, 201, 303), response.text
