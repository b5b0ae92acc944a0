"""Chat writes lock per ticket: other tickets go on, the same ticket keeps its order.

Two open transactions on PostgreSQL, as two API replicas would hold them. (SQLite has one
writer for the whole file, so there is nothing to lock there.)
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.service import NewMessage, do_edit_message, do_post_message
from app.db import unit_of_work
from app.models import ChatMessage, Role, User
from app.realtime.bus import MemoryBus
from tests.factories import create_ticket, create_user


async def _setup(db: async_sessionmaker[AsyncSession]) -> tuple[User, int, int]:
    async with unit_of_work(db) as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite has one writer: chat writes never run side by side there")
        agent, _ = await create_user(session, role=Role.AGENT)
        first = await create_ticket(session)
        second = await create_ticket(session)
    return agent, first.id, second.id


async def test_a_write_on_one_ticket_does_not_wait_for_another_tickets(
    committed_db: async_sessionmaker[AsyncSession],
) -> None:
    agent, vpn, printer = await _setup(committed_db)
    bus = MemoryBus()
    async with committed_db() as holding:
        # Replica A has written on the VPN ticket and not committed yet.
        await do_post_message(holding, NewMessage(agent, vpn, "A", "public", "a"), bus=bus)

        async def on_printer() -> None:
            async with unit_of_work(committed_db) as session:
                post = NewMessage(agent, printer, "B", "public", "b")
                await do_post_message(session, post, bus=bus)

        await asyncio.wait_for(on_printer(), timeout=5)  # replica B is not held up
        await holding.commit()


async def test_writes_on_the_same_ticket_wait_and_keep_ids_and_changes_in_order(
    committed_db: async_sessionmaker[AsyncSession],
) -> None:
    agent, vpn, _ = await _setup(committed_db)
    bus = MemoryBus()
    async with unit_of_work(committed_db) as session:
        await do_post_message(session, NewMessage(agent, vpn, "first", "public", "f"), bus=bus)
    async with committed_db() as holding:
        second = await do_post_message(
            holding,
            NewMessage(agent, vpn, "second", "public", "s"),
            bus=bus,
        )
        assert second.message is not None

        async def third() -> None:
            async with unit_of_work(committed_db) as session:
                post = NewMessage(agent, vpn, "third", "public", "t")
                await do_post_message(session, post, bus=bus)

        waiting = asyncio.create_task(third())
        await asyncio.sleep(0.5)
        assert not waiting.done()  # held by the same ticket's lock until the commit
        await holding.commit()
        await asyncio.wait_for(waiting, timeout=5)

    async with committed_db() as session:
        stmt = select(ChatMessage.body).where(ChatMessage.ticket_id == vpn)
        bodies = list((await session.execute(stmt.order_by(ChatMessage.id))).scalars())
    assert bodies == ["first", "second", "third"]


async def test_edits_on_two_tickets_at_once_are_numbered_per_ticket(
    committed_db: async_sessionmaker[AsyncSession],
) -> None:
    agent, vpn, printer = await _setup(committed_db)
    bus = MemoryBus()
    ids = []
    for ticket_id in (vpn, printer):
        async with unit_of_work(committed_db) as session:
            post = NewMessage(agent, ticket_id, "typo", "public", f"m{ticket_id}")
            outcome = await do_post_message(session, post, bus=bus)
            assert outcome.message is not None
            ids.append(outcome.message.id)

    async def edit(message_id: int, body: str) -> None:
        async with unit_of_work(committed_db) as session:
            await do_edit_message(session, user=agent, message_id=message_id, body=body, bus=bus)

    # Both at once: each ticket's first change is its number 1, and neither refuses.
    await asyncio.gather(edit(ids[0], "fixed vpn"), edit(ids[1], "fixed printer"))
    await asyncio.gather(edit(ids[0], "fixed vpn again"), edit(ids[1], "fixed printer again"))
    async with committed_db() as session:
        rows = (
            await session.execute(
                select(ChatMessage.ticket_id, ChatMessage.revision, ChatMessage.body).where(
                    ChatMessage.id.in_(ids)
                )
            )
        ).all()
    assert sorted(rows) == sorted(
        [(vpn, 2, "fixed vpn again"), (printer, 2, "fixed printer again")]
    )
