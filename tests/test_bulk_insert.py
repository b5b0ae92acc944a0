"""app.kit.bulk_insert: rows stored as the ORM stores them, on SQLite through the driver."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest
from sqlalchemy import Table, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.bulk_insert import SQLITE_MAX_VARIABLES, BulkInsert
from app.models import ChatMessage, Role
from tests.factories import create_ticket, create_user

INSERT = BulkInsert(
    cast(Table, ChatMessage.__table__),
    columns=(
        "ticket_id",
        "author_user_id",
        "body",
        "visibility",
        "client_msg_id",
        "mentions",
        "created_at",
    ),
    returning=("id", "client_msg_id"),
    skip_conflicts_on=("author_user_id", "client_msg_id"),
)


def _row(ticket_id: int, author_id: int, key: str, **extra: object) -> dict[str, object]:
    return {
        "ticket_id": ticket_id,
        "author_user_id": author_id,
        "body": f"body of {key}",
        "visibility": "public",
        "client_msg_id": key,
        "mentions": [],
        "created_at": datetime(2026, 11, 29, 8, 30, 15, 123456, tzinfo=UTC),
    } | extra


async def test_rows_read_back_through_the_orm_as_given(session: AsyncSession) -> None:
    agent, _ = await create_user(session, role=Role.AGENT)
    ticket = await create_ticket(session)
    at = datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
    returned = await INSERT.run(
        session,
        [
            _row(ticket.id, agent.id, "a", mentions=[agent.id, 7], created_at=at),
            _row(ticket.id, agent.id, "b", body="**bold** 'quoted' ünïcode"),
        ],
    )
    ids = {key: message_id for message_id, key in returned}
    assert set(ids) == {"a", "b"}
    a = await session.get(ChatMessage, ids["a"])
    b = await session.get(ChatMessage, ids["b"])
    assert a is not None
    assert b is not None
    assert (a.mentions, a.created_at, a.body) == ([agent.id, 7], at, "body of a")
    assert b.body == "**bold** 'quoted' ünïcode"
    # Found by the same comparisons the history queries use.
    assert (
        await session.scalar(
            select(func.count()).where(
                ChatMessage.ticket_id == ticket.id,
                ChatMessage.created_at > datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                ChatMessage.created_at < datetime(2026, 1, 2, 3, 4, 5, 601, tzinfo=UTC),
            )
        )
        == 1
    )


async def test_stored_values_are_those_the_orm_stores(session: AsyncSession) -> None:
    """Same row through the ORM and through BulkInsert: the database holds the same values
    (on SQLite, the same text: queries compare timestamps as strings there)."""
    agent, _ = await create_user(session, role=Role.AGENT)
    ticket = await create_ticket(session)
    whole_second = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)  # no microseconds to drop
    session.add(
        ChatMessage(
            ticket_id=ticket.id,
            author_user_id=agent.id,
            body="same",
            visibility="internal",
            client_msg_id="orm",
            mentions=[3, 1],
            created_at=whole_second,
        )
    )
    await session.flush()
    await INSERT.run(
        session,
        [
            _row(
                ticket.id,
                agent.id,
                "bulk",
                body="same",
                visibility="internal",
                mentions=[3, 1],
                created_at=whole_second,
            )
        ],
    )
    raw = (
        await session.execute(
            text(
                "SELECT client_msg_id, body, visibility, mentions, created_at FROM chat_messages"
                " WHERE ticket_id = :t ORDER BY client_msg_id"
            ),
            {"t": ticket.id},
        )
    ).all()
    assert [tuple(r)[1:] for r in raw if r[0] == "bulk"] == [
        tuple(r)[1:] for r in raw if r[0] == "orm"
    ]


async def test_conflicting_rows_are_skipped_and_not_returned(session: AsyncSession) -> None:
    agent, _ = await create_user(session, role=Role.AGENT)
    ticket = await create_ticket(session)
    first = await INSERT.run(session, [_row(ticket.id, agent.id, "same")])
    again = await INSERT.run(
        session, [_row(ticket.id, agent.id, "same"), _row(ticket.id, agent.id, "other")]
    )
    assert [key for _, key in again] == ["other"]
    stored = (
        await session.scalars(select(ChatMessage).where(ChatMessage.client_msg_id == "same"))
    ).all()
    assert [m.id for m in stored] == [first[0][0]]
    assert stored[0].body == "body of same"


async def test_a_broken_row_raises_sqlalchemys_integrity_error(session: AsyncSession) -> None:
    agent, _ = await create_user(session, role=Role.AGENT)
    ticket = await create_ticket(session)
    with pytest.raises(IntegrityError):
        await INSERT.run(
            session, [_row(ticket.id, agent.id, "ok"), _row(ticket.id + 10_000, agent.id, "x")]
        )


async def test_more_rows_than_one_statement_may_bind(session: AsyncSession) -> None:
    agent, _ = await create_user(session, role=Role.AGENT)
    ticket = await create_ticket(session)
    count = SQLITE_MAX_VARIABLES // len(INSERT.columns) + 50  # two statements on SQLite
    returned = await INSERT.run(session, [_row(ticket.id, agent.id, f"k{i}") for i in range(count)])
    assert len(returned) == count
    assert (
        await session.scalar(select(func.count()).where(ChatMessage.ticket_id == ticket.id))
        == count
    )


async def test_rows_roll_back_with_the_transaction_even_as_its_first_statement(
    committed_db: async_sessionmaker[AsyncSession],
) -> None:
    """Said straight to the driver, rows must still belong to the session's transaction:
    on PostgreSQL a statement sent before SQLAlchemy began it would be autocommitted."""
    async with committed_db() as session:
        agent, _ = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session)
        await session.commit()
    for keep in (False, True):
        async with committed_db() as session:
            await INSERT.run(session, [_row(ticket.id, agent.id, f"first-{keep}")])
            await INSERT.run(session, [_row(ticket.id, agent.id, f"second-{keep}")])
            if keep:
                await session.commit()
            else:
                await session.rollback()
    async with committed_db() as session:
        stored = await session.scalars(
            select(ChatMessage.client_msg_id).where(ChatMessage.ticket_id == ticket.id)
        )
        assert sorted(stored) == ["first-True", "second-True"]
