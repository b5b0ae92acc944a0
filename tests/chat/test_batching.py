"""Batched writes: many messages per transaction, each with its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat import service
from app.chat.schemas import ChatMessageEvent
from app.chat.service import NewMessage, do_post_messages
from app.chat.writer import MessageWriter
from app.db import unit_of_work
from app.kit.errors import Forbidden, NotFound
from app.models import ChatMessage, Role, User
from app.realtime.bus import MemoryBus
from tests.factories import create_ticket, create_user


async def test_one_batch_answers_each_post_in_order(session: AsyncSession) -> None:
    agent, _ = await create_user(session, role=Role.AGENT)
    requester, _ = await create_user(session)
    stranger, _ = await create_user(session)
    ticket = await create_ticket(session, requester=requester)
    other = await create_ticket(session)
    outcomes = await do_post_messages(
        session,
        [
            NewMessage(agent, ticket.id, "one", "public", "a"),
            NewMessage(requester, ticket.id, "two", "public", "b"),
            NewMessage(agent, ticket.id, "one again", "public", "a"),  # a retry in the batch
            NewMessage(requester, ticket.id, "sneaky", "internal", "c"),
            NewMessage(stranger, ticket.id, "let me in", "public", "d"),
            NewMessage(agent, other.id, "three", "internal", "e"),
        ],
        bus=MemoryBus(),
    )
    assert [o.created for o in outcomes] == [True, True, False, False, False, True]
    errors = [type(o.error) if o.error else None for o in outcomes]
    assert errors == [None, None, None, Forbidden, NotFound, None]
    ids = [o.message.id for o in outcomes if o.message is not None]
    assert ids[2] == ids[0]
    assert ids[0] < ids[1] < ids[3]  # ids follow arrival order
    retry = await do_post_messages(
        session, [NewMessage(agent, ticket.id, "one", "public", "a")], bus=MemoryBus()
    )
    assert retry[0].message is not None
    assert (retry[0].message.id, retry[0].created) == (ids[0], False)
    count = await session.scalar(select(func.count()).select_from(ChatMessage))
    assert count == 3


@pytest.fixture
def exploding_listener() -> Iterator[None]:
    """A reaction that fails for one message: its batch must not take the others down."""

    async def listener(_session: AsyncSession, events: Sequence[ChatMessageEvent]) -> None:
        if any(e.mentions == () and e.visibility == "internal" for e in events):
            raise RuntimeError("the policy is down")

    service.message_listeners.append(listener)
    yield
    service.message_listeners.remove(listener)


@pytest.mark.usefixtures("exploding_listener")
async def test_the_writer_batches_and_isolates_a_failing_message(
    committed_db: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(committed_db) as session:
        agent, _ = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session)
    writer = MessageWriter(committed_db, MemoryBus())
    try:
        futures = [
            writer.submit(NewMessage(agent, ticket.id, f"m{n}", "public", f"k{n}"))
            for n in range(50)
        ]
        futures.insert(10, writer.submit(NewMessage(agent, ticket.id, "x", "internal", "boom")))
        results = await asyncio.gather(*futures, return_exceptions=True)
    finally:
        await writer.close()
    failed = [r for r in results if isinstance(r, BaseException)]
    assert [str(f) for f in failed] == ["the policy is down"]
    stored = [r.message.id for r in results if not isinstance(r, BaseException) and r.message]
    assert len(stored) == 50
    assert stored == sorted(stored)
    async with committed_db() as session:
        count = await session.scalar(select(func.count()).select_from(ChatMessage))
        assert await session.get(User, agent.id) is not None
    assert count == 50


async def test_the_writer_survives_its_database_connection_dying(
    committed_db: async_sessionmaker[AsyncSession],
) -> None:
    """PostgreSQL: the writer's own connection is killed between batches; nothing is lost."""
    async with unit_of_work(committed_db) as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite: the writer shares the process's one connection")
        agent, _ = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session)
    writer = MessageWriter(committed_db, MemoryBus())
    try:
        first = await writer.submit(NewMessage(agent, ticket.id, "before", "public", "a"))
        assert first.created
        async with unit_of_work(committed_db) as session:
            killed = await session.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        assert killed >= 1
        # a batch of one has no neighbours to retry alone: it goes again on a new connection
        alone = await writer.submit(NewMessage(agent, ticket.id, "alone", "public", "c"))
        assert alone.created
        async with unit_of_work(committed_db) as session:
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        after = await asyncio.gather(
            *(
                writer.submit(NewMessage(agent, ticket.id, f"after {n}", "public", f"b{n}"))
                for n in range(5)
            )
        )
    finally:
        await writer.close()
    assert all(outcome.created for outcome in after)
    async with committed_db() as session:
        count = await session.scalar(select(func.count()).select_from(ChatMessage))
    assert count == 7
