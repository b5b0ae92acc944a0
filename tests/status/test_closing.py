"""Closing comments: resolving an incident writes its approved public text to each linked
ticket, once, through the connector; failures are recorded and retried, never doubled."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.secrets import SecretBox
from app.models import ConnectorWrite, IncidentTicket, Ticket
from app.status import repository
from app.sync import instances
from app.sync.closing import ClosingCommentWorker, closing_key
from connectors import registry
from connectors.base import Capability, NotSupported, RateLimited, TransientError, Visibility
from connectors.demo.connector import DemoConnector
from connectors.demo.world import DemoWorld
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_connector, create_ticket
from tests.status.conftest import Desk, add_service, approve, open_incident, post_update
from tests.sync.scripted import ScriptedConnector

BASE_URL = "https://desk.example.com"
INTERNAL_MARK = "SECRET-INTERNAL"


class FlakyDesk(ScriptedConnector):
    """A system that keeps one comment per key (like real connectors' markers) and whose
    answers a test can make fail: before the write, or after it (the answer is lost)."""

    kind = "status_flaky"
    capabilities = frozenset({Capability.READ_TICKETS, Capability.WRITE_PUBLIC_COMMENT})
    comments: ClassVar[dict[str, tuple[str, str, Visibility]]] = {}
    fail_before: ClassVar[list[Exception]] = []
    fail_after: ClassVar[list[Exception]] = []

    async def add_comment(
        self, external_id: str, body: str, visibility: Visibility, idempotency_key: str
    ) -> str:
        if self.fail_before:
            raise self.fail_before.pop(0)
        self.comments.setdefault(idempotency_key, (external_id, body, visibility))
        if self.fail_after:
            raise self.fail_after.pop(0)
        return f"c-{idempotency_key}"


class ReadOnlyDesk(ScriptedConnector):
    kind = "status_read_only"
    capabilities = frozenset({Capability.READ_TICKETS})


@pytest.fixture(autouse=True)
def _connectors() -> Iterator[None]:
    registry.register(FlakyDesk)
    registry.register(ReadOnlyDesk)
    FlakyDesk.comments.clear()
    yield
    FlakyDesk.fail_before.clear()
    FlakyDesk.fail_after.clear()


@pytest.fixture
async def worker(db: async_sessionmaker[AsyncSession]) -> AsyncIterator[ClosingCommentWorker]:
    async with httpx.AsyncClient() as http:
        yield ClosingCommentWorker(db, SecretBox(TEST_SECRET_KEY), http, base_url=BASE_URL)


async def demo_ticket(
    db: async_sessionmaker[AsyncSession], worker: ClosingCommentWorker
) -> tuple[Ticket, DemoWorld]:
    """A ticket of a demo desk, and the demo world the worker's connector writes into."""
    async with unit_of_work(db) as session:
        instance = await create_connector(session, settings=DemoConnector.initial_settings())
        connector = instances.build(instance, worker.box, worker.http)
        assert isinstance(connector, DemoConnector)
        connector.world.advance(utcnow())
        ticket = await create_ticket(session, connector=instance)
        ticket.external_id = sorted(connector.world.tickets)[0]
    return ticket, connector.world


async def ticket_of(db: async_sessionmaker[AsyncSession], kind: str) -> Ticket:
    async with unit_of_work(db) as session:
        return await create_ticket(session, connector=await create_connector(session, kind=kind))


async def link(client: httpx.AsyncClient, desk: Desk, incident_id: int, ticket_id: int) -> None:
    response = await client.post(
        f"/api/v1/status/incidents/{incident_id}/tickets",
        json={"ticket_id": ticket_id},
        headers=desk.alex,
    )
    assert response.status_code == 201, response.text


async def linked(client: httpx.AsyncClient, desk: Desk, incident_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/status/incidents/{incident_id}/tickets", headers=desk.bo)
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()
    return found


async def resolve_publicly(
    client: httpx.AsyncClient, desk: Desk, incident_id: int, text: str, *, status: str = "resolved"
) -> int:
    resolved = await post_update(
        client, desk, incident_id, status=status,
        body=f"{INTERNAL_MARK}: rebooted vpn-gw-02", public_body=text,
    )  # fmt: skip
    assert resolved.status_code == 201, resolved.text
    return int(resolved.json()["id"])


async def test_the_demo_ticket_gets_the_public_resolution_text_once(
    client: httpx.AsyncClient, desk: Desk, db: async_sessionmaker[AsyncSession],
    worker: ClosingCommentWorker,
) -> None:  # fmt: skip
    ticket, world = await demo_ticket(db, worker)
    await add_service(client, desk, "vpn")
    incident = await open_incident(client, desk, ["vpn"], public_body="The VPN is down.")
    await link(client, desk, incident["id"], ticket.id)
    resolution = await resolve_publicly(client, desk, incident["id"], "The VPN works again.")
    # Asked for, but the public text is still a draft: nothing may be written yet.
    assert await worker.run_once() == 0
    [pending] = await linked(client, desk, incident["id"])
    assert pending["closing_requested_at"] is not None
    assert pending["closing_written_at"] is None

    assert (await approve(client, desk, resolution)).status_code == 200
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0  # written is written
    [comment] = world.written
    assert comment.visibility == Visibility.PUBLIC
    assert comment.ticket.external_id == ticket.external_id
    body = comment.body or ""
    assert body.startswith("The VPN works again.\n\n— IT service status: Service disruption")
    assert f"{BASE_URL}/status#incident-{incident['id']}" in body
    assert INTERNAL_MARK not in body
    assert "The VPN is down." not in body
    [done] = await linked(client, desk, incident["id"])
    assert done["closing_written_at"] is not None
    assert (done["closing_attempts"], done["closing_last_error"]) == (1, None)
    async with db() as session:
        write = await session.scalar(select(ConnectorWrite))
        assert write is not None
        assert write.idempotency_key == closing_key(incident["id"], ticket.id)
        assert write.external_comment_id == comment.external_comment_id


async def test_a_failure_is_recorded_and_retried_and_never_doubles_the_comment(
    client: httpx.AsyncClient, desk: Desk, db: async_sessionmaker[AsyncSession],
    worker: ClosingCommentWorker,
) -> None:  # fmt: skip
    ticket = await ticket_of(db, "status_flaky")
    await add_service(client, desk, "mail")
    incident = await open_incident(client, desk, ["mail"], public_body="Mail is slow.")
    await link(client, desk, incident["id"], ticket.id)
    resolution = await resolve_publicly(client, desk, incident["id"], "Mail is fast again.")
    assert (await approve(client, desk, resolution)).status_code == 200

    FlakyDesk.fail_before.append(TransientError("the desk is down"))
    FlakyDesk.fail_after.append(TransientError("the answer was lost"))
    assert await worker.run_once() == 1  # down: nothing written, recorded
    [failed] = await linked(client, desk, incident["id"])
    assert (failed["closing_attempts"], failed["closing_written_at"]) == (1, None)
    assert failed["closing_last_error"] == "transient: the desk is down"
    assert await worker.run_once() == 0  # backing off
    for _ in range(2):
        async with unit_of_work(db) as session:
            await session.execute(
                update(IncidentTicket).values(closing_next_attempt_at=utcnow() - timedelta(1))
            )
        assert await worker.run_once() == 1
    # Written on the second try but its answer lost; the third try found it by its key.
    [written] = await linked(client, desk, incident["id"])
    assert written["closing_written_at"] is not None
    assert written["closing_attempts"] == 3
    key = closing_key(incident["id"], ticket.id)
    assert list(FlakyDesk.comments) == [key]
    assert FlakyDesk.comments[key][1].startswith("Mail is fast again.")
    assert await worker.run_once() == 0


async def test_an_internal_resolution_waits_for_public_text_and_read_only_desks_are_skipped(
    client: httpx.AsyncClient, desk: Desk, db: async_sessionmaker[AsyncSession],
    worker: ClosingCommentWorker,
) -> None:  # fmt: skip
    flaky = await ticket_of(db, "status_flaky")
    read_only = await ticket_of(db, "status_read_only")
    await add_service(client, desk, "wifi")
    incident = await open_incident(client, desk, ["wifi"], public_body="Wi-Fi drops.")
    await link(client, desk, incident["id"], flaky.id)
    await link(client, desk, incident["id"], read_only.id)
    internal = await post_update(
        client, desk, incident["id"], status="resolved", audience="internal",
        body=f"{INTERNAL_MARK}: AP firmware rolled back",
    )  # fmt: skip
    assert internal.status_code == 201
    assert await worker.run_once() == 0  # resolved, but with no public text to write
    assert FlakyDesk.comments == {}

    follow_up = await resolve_publicly(client, desk, incident["id"], "Wi-Fi is stable again.")
    assert (await approve(client, desk, follow_up)).status_code == 200
    assert await worker.run_once() == 2
    assert [c[1].split("\n")[0] for c in FlakyDesk.comments.values()] == ["Wi-Fi is stable again."]
    by_ticket = {t["ticket_id"]: t for t in await linked(client, desk, incident["id"])}
    assert by_ticket[flaky.id]["closing_written_at"] is not None
    skipped = by_ticket[read_only.id]
    assert skipped["closing_written_at"] is None
    assert skipped["closing_skipped_reason"] == (
        "the status_read_only connector cannot write public comments"
    )
    assert await worker.run_once() == 0


async def resolved_flaky_link(
    client: httpx.AsyncClient, desk: Desk, db: async_sessionmaker[AsyncSession]
) -> int:
    """An incident resolved with approved public text, linked to one `status_flaky` ticket:
    the id of the link, due for its closing comment."""
    ticket = await ticket_of(db, "status_flaky")
    await add_service(client, desk, "print")
    incident = await open_incident(client, desk, ["print"], public_body="Printing fails.")
    await link(client, desk, incident["id"], ticket.id)
    resolution = await resolve_publicly(client, desk, incident["id"], "Printing works again.")
    assert (await approve(client, desk, resolution)).status_code == 200
    async with db() as session:
        link_id = await session.scalar(
            select(IncidentTicket.id).where(IncidentTicket.ticket_id == ticket.id)
        )
    assert link_id is not None
    return link_id


async def closing_state(db: async_sessionmaker[AsyncSession], link_id: int) -> IncidentTicket:
    async with db() as session:
        found = await session.get(IncidentTicket, link_id)
        assert found is not None
        return found


async def make_due(db: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(db) as session:
        await session.execute(
            update(IncidentTicket).values(closing_next_attempt_at=utcnow() - timedelta(1))
        )


async def test_a_connector_that_refuses_the_write_as_unsupported_is_a_recorded_skip(
    client: httpx.AsyncClient, desk: Desk, db: async_sessionmaker[AsyncSession],
    worker: ClosingCommentWorker,
) -> None:  # fmt: skip
    link_id = await resolved_flaky_link(client, desk, db)
    FlakyDesk.fail_before.append(NotSupported("comments are closed on this ticket"))
    assert await worker.run_once() == 1
    skipped = await closing_state(db, link_id)
    assert skipped.closing_skipped_reason == "comments are closed on this ticket"
    assert (skipped.closing_attempts, skipped.closing_last_error) == (1, None)
    assert (skipped.closing_written_at, skipped.closing_lease_owner) == (None, None)
    await make_due(db)
    assert await worker.run_once() == 0  # a skip is final
    assert FlakyDesk.comments == {}


async def test_a_rate_limit_is_retried_no_sooner_than_the_system_asked(
    client: httpx.AsyncClient, desk: Desk, db: async_sessionmaker[AsyncSession],
    worker: ClosingCommentWorker,
) -> None:  # fmt: skip
    link_id = await resolved_flaky_link(client, desk, db)
    FlakyDesk.fail_before.append(RateLimited("slow down", retry_after=900))
    before = utcnow()
    assert await worker.run_once() == 1
    waiting = await closing_state(db, link_id)
    assert (waiting.closing_attempts, waiting.closing_written_at) == (1, None)
    assert waiting.closing_last_error == "rate_limited: slow down"
    assert waiting.closing_next_attempt_at is not None
    assert waiting.closing_next_attempt_at >= before + timedelta(seconds=900)
    assert (waiting.closing_lease_owner, waiting.closing_lease_expires_at) == (None, None)
    assert await worker.run_once() == 0


async def test_an_unexpected_error_is_logged_recorded_without_its_text_and_retried(
    client: httpx.AsyncClient, desk: Desk, db: async_sessionmaker[AsyncSession],
    worker: ClosingCommentWorker, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    link_id = await resolved_flaky_link(client, desk, db)
    FlakyDesk.fail_before.append(RuntimeError("secret detail"))
    with caplog.at_level(logging.INFO, logger="app.sync.closing"):
        assert await worker.run_once() == 1
    failed = await closing_state(db, link_id)
    assert (failed.closing_attempts, failed.closing_written_at) == (1, None)
    assert failed.closing_last_error == "internal_error: RuntimeError"
    records = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert records[0] == ("app.sync.closing", "ERROR", f"closing comment {link_id} crashed")
    assert caplog.records[0].exc_info is not None
    name, level, text = records[1]
    assert (name, level) == ("app.sync.closing", "WARNING")
    assert text.startswith(
        f"closing comment {link_id} failed (internal_error: RuntimeError); retrying in "
    )

    await make_due(db)
    assert await worker.run_once() == 1
    written = await closing_state(db, link_id)
    assert written.closing_written_at is not None
    assert (written.closing_attempts, written.closing_last_error) == (2, None)


async def test_a_link_leased_by_another_worker_waits_for_the_lease_to_run_out(
    client: httpx.AsyncClient, desk: Desk, db: async_sessionmaker[AsyncSession],
    worker: ClosingCommentWorker,
) -> None:  # fmt: skip
    link_id = await resolved_flaky_link(client, desk, db)
    async with unit_of_work(db) as session:
        await session.execute(
            update(IncidentTicket).values(
                closing_lease_owner="elsewhere",
                closing_lease_expires_at=utcnow() + timedelta(minutes=1),
            )
        )
    assert await worker.run_once() == 0
    async with unit_of_work(db) as session:
        await session.execute(
            update(IncidentTicket).values(closing_lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await worker.run_once() == 1
    assert (await closing_state(db, link_id)).closing_written_at is not None


async def test_a_closing_comment_whose_text_is_gone_is_a_not_ready_failure(
    client: httpx.AsyncClient, desk: Desk, db: async_sessionmaker[AsyncSession],
    worker: ClosingCommentWorker, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    link_id = await resolved_flaky_link(client, desk, db)

    async def no_resolution(session: AsyncSession, incident_id: int) -> None:
        return None

    monkeypatch.setattr(repository, "resolution_update", no_resolution)
    assert await worker.run_once() == 1
    failed = await closing_state(db, link_id)
    assert (failed.closing_attempts, failed.closing_written_at) == (1, None)
    assert failed.closing_last_error == (
        f"not_ready: closing comment {link_id}: no approved public resolution yet"
    )
    assert failed.closing_next_attempt_at is not None
    assert failed.closing_next_attempt_at > utcnow()
    assert FlakyDesk.comments == {}
