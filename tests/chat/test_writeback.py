"""Write-back: chat messages reach the ticket once, through the worker, never in the request."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.service import NewMessage, do_delete_message, do_post_message
from app.chat.writeback import WritebackWorker
from app.db import unit_of_work
from app.files.service import do_store
from app.files.store import LocalBlobStore
from app.kit.clock import utcnow
from app.kit.secrets import SecretBox
from app.models import ChatMessage, ChatWriteback, ConnectorWrite, Role, TicketEvent, User
from app.realtime.bus import MemoryBus
from app.sync import instances
from app.sync.engine import sync_instance
from connectors import registry
from connectors.base import Capability, NotSupported, RateLimited, TransientError, Visibility
from connectors.demo.connector import DemoConnector
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_connector, create_ticket, create_user
from tests.files.support import PNG
from tests.sync.scripted import ScriptedConnector


class PublicOnlyConnector(ScriptedConnector):
    """A system that takes public comments but has no internal notes."""

    kind = "chat_public_only"
    capabilities = frozenset({Capability.READ_TICKETS, Capability.WRITE_PUBLIC_COMMENT})
    written: ClassVar[list[tuple[str, str, Visibility, str]]] = []
    failures: ClassVar[list[Exception]] = []

    async def add_comment(
        self, external_id: str, body: str, visibility: Visibility, idempotency_key: str
    ) -> str:
        self.written.append((external_id, body, visibility, idempotency_key))
        if self.failures:
            raise self.failures.pop(0)
        return f"c-{idempotency_key}"


@pytest.fixture(autouse=True)
def _connectors() -> Iterator[None]:
    registry.register(PublicOnlyConnector)
    PublicOnlyConnector.written.clear()
    PublicOnlyConnector.failures.clear()
    yield
    PublicOnlyConnector.failures.clear()


@pytest.fixture
async def worker(db: async_sessionmaker[AsyncSession]) -> AsyncIterator[WritebackWorker]:
    async with httpx.AsyncClient() as http:
        yield WritebackWorker(db, SecretBox(TEST_SECRET_KEY), http)


async def _post(
    db: async_sessionmaker[AsyncSession], author: User, ticket_id: int, body: str, visibility: str
) -> int:
    async with unit_of_work(db) as session:
        outcome = await do_post_message(
            session,
            NewMessage(author, ticket_id, body, visibility, f"w-{body}"),
            bus=MemoryBus(),
        )
        assert outcome.message is not None
        return outcome.message.id


async def _state(db: async_sessionmaker[AsyncSession], message_id: int) -> ChatWriteback:
    async with db() as session:
        stmt = select(ChatWriteback).where(ChatWriteback.message_id == message_id)
        return (await session.execute(stmt)).scalar_one()


async def test_the_demo_desk_gets_the_comment_once_and_sync_recognizes_it(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker
) -> None:
    async with unit_of_work(db) as session:
        agent, _ = await create_user(session, role=Role.AGENT, name="Alex Agent")
        instance = await create_connector(session, settings=DemoConnector.initial_settings())
        # the same world the worker's connector will write into (one per settings)
        connector = instances.build(instance, SecretBox(TEST_SECRET_KEY), worker.http)
        assert isinstance(connector, DemoConnector)
        world = connector.world
        world.advance(utcnow())
        external_id = sorted(world.tickets)[0]
        ticket = await create_ticket(session, connector=instance)
        ticket.external_id = external_id
    public = await _post(db, agent, ticket.id, "We replaced the token", "public")
    note = await _post(db, agent, ticket.id, "Token batch 7 is faulty", "internal")
    assert world.written == []  # nothing is written inside the request

    assert await worker.run_once() == 2
    assert await worker.run_once() == 0  # done is done: never written twice
    assert [(c.visibility, (c.body or "").split("\n")[0]) for c in world.written] == [
        (Visibility.PUBLIC, "We replaced the token"),
        (Visibility.INTERNAL, "Token batch 7 is faulty"),
    ]
    assert (world.written[0].body or "").endswith("— Alex Agent, via Socialdesk chat")
    async with db() as session:
        writes = (await session.execute(select(ConnectorWrite))).scalars().all()
        assert sorted(w.idempotency_key for w in writes) == [f"chat:{public}", f"chat:{note}"]
        message = await session.get(ChatMessage, public)
        assert message is not None
        assert message.external_comment_id == world.written[0].external_comment_id
    assert (await _state(db, note)).state == "done"

    async with httpx.AsyncClient() as http:
        report = await sync_instance(db, MemoryBus(), SecretBox(TEST_SECRET_KEY), http, instance.id)
    assert report.error is None
    assert report.own_writes == 2
    async with db() as session:
        echoed = select(TicketEvent).where(TicketEvent.body.like("%via Socialdesk chat%"))
        assert (await session.execute(echoed)).first() is None


async def test_internal_messages_never_go_to_a_system_without_internal_notes(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker
) -> None:
    async with unit_of_work(db) as session:
        agent, _ = await create_user(session, role=Role.AGENT)
        instance = await create_connector(session, kind="chat_public_only")
        ticket = await create_ticket(session, connector=instance)
    note = await _post(db, agent, ticket.id, "internal only", "internal")
    public = await _post(db, agent, ticket.id, "public reply", "public")
    assert await worker.run_once() == 2
    assert [(w[1].split("\n")[0], w[2]) for w in PublicOnlyConnector.written] == [
        ("public reply", Visibility.PUBLIC)
    ]
    skipped = await _state(db, note)
    assert skipped.state == "skipped"
    assert skipped.skipped_reason == "the chat_public_only connector cannot write internal notes"
    assert (await _state(db, public)).state == "done"


async def test_an_outage_delays_the_write_and_the_retry_uses_the_same_key(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker
) -> None:
    async with unit_of_work(db) as session:
        agent, _ = await create_user(session, role=Role.AGENT)
        instance = await create_connector(session, kind="chat_public_only")
        ticket = await create_ticket(session, connector=instance)
    message_id = await _post(db, agent, ticket.id, "hello", "public")
    PublicOnlyConnector.failures.append(TransientError("503 from the desk"))
    assert await worker.run_once() == 1
    pending = await _state(db, message_id)
    assert (pending.state, pending.attempts) == ("pending", 1)
    assert pending.last_error == "transient: 503 from the desk"
    assert pending.next_attempt_at > utcnow() + timedelta(seconds=1)
    assert await worker.run_once() == 0  # backing off

    async with unit_of_work(db) as session:
        await session.execute(update(ChatWriteback).values(next_attempt_at=utcnow()))
    assert await worker.run_once() == 1
    keys = [w[3] for w in PublicOnlyConnector.written]
    assert keys == [f"chat:{message_id}", f"chat:{message_id}"]
    done = await _state(db, message_id)
    assert (done.state, done.attempts, done.external_comment_id) == (
        "done",
        2,
        f"c-chat:{message_id}",
    )
    async with db() as session:
        assert len((await session.execute(select(ConnectorWrite))).scalars().all()) == 1


async def test_a_message_deleted_before_write_back_is_not_written(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker
) -> None:
    async with unit_of_work(db) as session:
        agent, _ = await create_user(session, role=Role.AGENT)
        instance = await create_connector(session, kind="chat_public_only")
        ticket = await create_ticket(session, connector=instance)
    message_id = await _post(db, agent, ticket.id, "oops", "public")
    async with unit_of_work(db) as session:
        user = await session.get(User, agent.id)
        assert user is not None
        await do_delete_message(session, user=user, message_id=message_id, bus=MemoryBus())
    assert await worker.run_once() == 1
    assert PublicOnlyConnector.written == []
    assert (await _state(db, message_id)).state == "skipped"


async def _one_public_message(db: async_sessionmaker[AsyncSession]) -> int:
    async with unit_of_work(db) as session:
        agent, _ = await create_user(session, role=Role.AGENT)
        instance = await create_connector(session, kind="chat_public_only")
        ticket = await create_ticket(session, connector=instance)
    return await _post(db, agent, ticket.id, "hello", "public")


async def test_a_connector_that_refuses_the_write_as_unsupported_is_a_recorded_skip(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker
) -> None:
    message_id = await _one_public_message(db)
    PublicOnlyConnector.failures.append(NotSupported("comments are closed on this ticket"))
    assert await worker.run_once() == 1
    skipped = await _state(db, message_id)
    assert (skipped.state, skipped.attempts, skipped.last_error) == ("skipped", 1, None)
    assert skipped.skipped_reason == "comments are closed on this ticket"
    assert skipped.done_at is not None
    async with unit_of_work(db) as session:
        await session.execute(update(ChatWriteback).values(next_attempt_at=utcnow()))
    assert await worker.run_once() == 0  # a skip is final


async def test_a_rate_limit_is_retried_no_sooner_than_the_system_asked(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker
) -> None:
    message_id = await _one_public_message(db)
    PublicOnlyConnector.failures.append(RateLimited("slow down", retry_after=900))
    before = utcnow()
    assert await worker.run_once() == 1
    pending = await _state(db, message_id)
    assert (pending.state, pending.attempts) == ("pending", 1)
    assert pending.last_error == "rate_limited: slow down"
    assert pending.next_attempt_at >= before + timedelta(seconds=900)
    assert (pending.lease_owner, pending.lease_expires_at) == (None, None)


async def test_an_unexpected_error_is_logged_recorded_without_its_text_and_retried(
    db: async_sessionmaker[AsyncSession],
    worker: WritebackWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    message_id = await _one_public_message(db)
    PublicOnlyConnector.failures.append(RuntimeError("secret detail"))
    with caplog.at_level(logging.INFO, logger="app.chat.writeback"):
        assert await worker.run_once() == 1
    pending = await _state(db, message_id)
    assert (pending.state, pending.attempts) == ("pending", 1)
    assert pending.last_error == "internal_error: RuntimeError"
    writeback_id = pending.id
    records = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert records[0] == ("app.chat.writeback", "ERROR", f"chat write-back {writeback_id} crashed")
    assert caplog.records[0].exc_info is not None
    name, level, text = records[1]
    assert (name, level) == ("app.chat.writeback", "WARNING")
    assert text.startswith(
        f"chat write-back {writeback_id} failed (internal_error: RuntimeError); retrying in "
    )

    async with unit_of_work(db) as session:
        await session.execute(update(ChatWriteback).values(next_attempt_at=utcnow()))
    assert await worker.run_once() == 1
    done = await _state(db, message_id)
    # The last failure stays on a done chat write-back (a closing comment clears it).
    assert (done.state, done.attempts, done.last_error) == (
        "done",
        2,
        "internal_error: RuntimeError",
    )


async def test_a_write_back_leased_by_another_worker_waits_for_the_lease_to_run_out(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker
) -> None:
    message_id = await _one_public_message(db)
    async with unit_of_work(db) as session:
        await session.execute(
            update(ChatWriteback).values(
                lease_owner="elsewhere", lease_expires_at=utcnow() + timedelta(minutes=1)
            )
        )
    assert await worker.run_once() == 0
    async with unit_of_work(db) as session:
        await session.execute(
            update(ChatWriteback).values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await worker.run_once() == 1
    assert (await _state(db, message_id)).state == "done"


async def test_a_write_back_that_cannot_be_planned_is_a_recorded_failure(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker
) -> None:
    message_id = await _one_public_message(db)
    async with unit_of_work(db) as session:
        await session.execute(update(ChatWriteback).values(visibility="sideways"))
    assert await worker.run_once() == 1
    failed = await _state(db, message_id)
    assert (failed.state, failed.attempts) == ("pending", 1)
    assert failed.last_error == "internal_error: ValueError"
    assert failed.next_attempt_at > utcnow()
    assert PublicOnlyConnector.written == []


async def test_the_comment_names_the_files_that_stay_in_socialdesk(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker, tmp_path: Path
) -> None:
    async with unit_of_work(db) as session:
        agent, _ = await create_user(session, role=Role.AGENT, name="Alex Files")
        instance = await create_connector(session, kind="chat_public_only")
        ticket = await create_ticket(session, connector=instance)
        shot = await do_store(
            session, LocalBlobStore(tmp_path), uploader_id=agent.id, ticket_id=ticket.id,
            filename="screen.png", data=PNG, content_type="image/png",
        )  # fmt: skip
        await do_post_message(
            session,
            NewMessage(agent, ticket.id, "Fixed, see the screenshot", "public", "f1", (shot.id,)),
            bus=MemoryBus(),
        )
    assert await worker.run_once() == 1
    (written,) = PublicOnlyConnector.written
    assert written[1] == (
        "Fixed, see the screenshot\n\nFiles in the Socialdesk chat: screen.png"
        "\n\n— Alex Files, via Socialdesk chat"
    )
