"""The HTTP-API harness the ServiceNow, Jira SM, Zendesk and Freshservice tests share.

Test modules load it with `pytest_plugins = ["tests.connectors.api_support"]` and define a
`fake` fixture (the vendor's contract fake). The app's outbound HTTP client is
`Runtime.http` (what `create_app` hands the endpoints as `app.state.http`); `fake_runtime`
binds it to the fake's MockTransport. The database is the real one of the test run (SQLite
or PostgreSQL), not a mock. The helpers do the HTTP and the checks every kind shares; each
test keeps the assertions about its vendor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.main import create_app
from app.models import Role
from app.runtime import Runtime
from app.sync.writeback import WriteBack, do_write_back
from tests.conftest import make_runtime
from tests.factories import auth, create_user


class Fake(Protocol):
    """A contract fake: it serves the vendor's API on a MockTransport."""

    def transport(self) -> httpx.MockTransport: ...


# Named apart from tests/conftest.py's `runtime`: a conftest fixture wins over a plugin's,
# and that one talks to the network, not to the fake.
@pytest.fixture
async def fake_runtime(
    settings: Settings, db: async_sessionmaker[AsyncSession], fake: Fake
) -> AsyncIterator[Runtime]:
    runtime = make_runtime(settings, db)
    await runtime.http.aclose()
    runtime.http = httpx.AsyncClient(transport=fake.transport())
    yield runtime
    await runtime.http.aclose()


@pytest.fixture
async def api(fake_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(fake_runtime.settings, runtime=fake_runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def admin(session: AsyncSession) -> dict[str, str]:
    _, token = await create_user(session, role=Role.ADMIN)
    await session.commit()
    return auth(token)


async def requester(session: AsyncSession, email: str, name: str) -> dict[str, str]:
    """Headers of a requester the connector will match to its tickets by e-mail."""
    _, token = await create_user(session, email=email, name=name)
    await session.commit()
    return auth(token)


async def add(api: httpx.AsyncClient, admin: dict[str, str], body: Any) -> httpx.Response:
    """Add an instance; it must be accepted (201)."""
    added = await api.post("/api/v1/connectors", json=body, headers=admin)
    assert added.status_code == 201, added.text
    return added


async def sync(
    api: httpx.AsyncClient, admin: dict[str, str], connector: dict[str, Any]
) -> dict[str, Any]:
    """Sync the instance now (it must succeed) and return the counts."""
    synced = await api.post(f"/api/v1/connectors/{connector['id']}/sync", headers=admin)
    assert synced.status_code == 200, synced.text
    counts: dict[str, Any] = synced.json()
    return counts


async def the_ticket(
    api: httpx.AsyncClient, admin: dict[str, str], connector: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The one mirrored ticket (of `connector`, when given)."""
    query = "" if connector is None else f"?connector_id={connector['id']}"
    listed = await api.get(f"/api/v1/tickets{query}", headers=admin)
    [ticket] = listed.json()["items"]
    found: dict[str, Any] = ticket
    return found


async def timeline(
    api: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> httpx.Response:
    """The ticket's timeline as `headers` may see it (it must be readable)."""
    seen = await api.get(f"/api/v1/tickets/{ticket['id']}/timeline", headers=headers)
    assert seen.status_code == 200, seen.text
    return seen


def kinds(seen: httpx.Response) -> list[tuple[str, str]]:
    return [(e["kind"], e["visibility"]) for e in seen.json()["items"]]


async def write_back_twice(
    runtime: Runtime, ticket: dict[str, Any], body: str, visibility: Literal["public", "internal"]
) -> tuple[WriteBack, WriteBack]:
    """The same chat message written back twice under one idempotency key (`chat:41`)."""
    written = [
        await do_write_back(
            runtime.sessionmaker,
            box=runtime.box,
            http=runtime.http,
            ticket_id=ticket["id"],
            body=body,
            idempotency_key="chat:41",
            visibility=visibility,
        )
        for _ in range(2)
    ]
    return written[0], written[1]


async def refused(api: httpx.AsyncClient, admin: dict[str, str], body: Any) -> httpx.Response:
    """Add a configuration the check refuses (422, `connector_check_failed`); none is saved."""
    answer = await api.post("/api/v1/connectors", json=body, headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "connector_check_failed"
    listed = await api.get("/api/v1/connectors", headers=admin)
    assert listed.json() == []
    return answer


async def clash(api: httpx.AsyncClient, admin: dict[str, str], first: Any, again: Any) -> None:
    """`again` names the same remote system and scope as `first`: it is refused as a repeat."""
    assert (await api.post("/api/v1/connectors", json=first, headers=admin)).status_code == 201
    repeat = await api.post("/api/v1/connectors", json=again, headers=admin)
    assert repeat.status_code == 409
    assert repeat.json()["error"]["code"] == "connector_exists"
