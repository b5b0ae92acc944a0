"""Queries on chat messages, read state and the ticket timeline as the chat shows it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, case, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.bulk_insert import BulkInsert
from app.kit.clock import utcnow
from app.models import ChatMessage, ChatReadState, TicketEvent, User


@dataclass(slots=True, eq=False)
class NewChatMessage:
    """A message being stored: plain attributes, no ORM bookkeeping (batches make many)."""

    ticket_id: int
    author_user_id: int | None
    body: str
    visibility: str
    client_msg_id: str
    mentions: list[int] = field(default_factory=list)
    id: int = 0
    created_at: datetime = field(default_factory=utcnow)
    external_comment_id: str | None = None
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    revision: int | None = None  # a new message has not changed yet
    # Summaries of the files it carries (app.files.service.summary), None without any.
    attachments: list[dict[str, Any]] | None = None


AnyMessage = ChatMessage | NewChatMessage
MessageRow = tuple[ChatMessage, str | None]  # the message and its author's name


_INSERT_MESSAGES = BulkInsert(
    cast(Table, ChatMessage.__table__),
    columns=(
        "ticket_id",
        "author_user_id",
        "body",
        "visibility",
        "client_msg_id",
        "mentions",
        "attachments",
        "created_at",
    ),
    returning=("id", "author_user_id", "client_msg_id"),
    skip_conflicts_on=("author_user_id", "client_msg_id"),
)


def _with_author() -> Select[ChatMessage, str]:
    return select(ChatMessage, User.name).outerjoin(User, User.id == ChatMessage.author_user_id)


async def get_message(session: AsyncSession, message_id: int) -> MessageRow | None:
    row = (await session.execute(_with_author().where(ChatMessage.id == message_id))).first()
    return None if row is None else (row[0], row[1])


async def messages_by_client_ids(
    session: AsyncSession, keys: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], ChatMessage]:
    """Messages already stored under (author, client_msg_id): retried sends."""
    keys = set(keys)
    if not keys:
        return {}
    stmt = select(ChatMessage).where(
        ChatMessage.author_user_id.in_({a for a, _ in keys}),
        ChatMessage.client_msg_id.in_({c for _, c in keys}),
    )
    found = {}
    for message in (await session.execute(stmt)).scalars():
        key = (message.author_user_id or 0, message.client_msg_id)
        if key in keys:
            found[key] = message
    return found


async def insert_messages(
    session: AsyncSession, messages: Sequence[NewChatMessage]
) -> set[tuple[int, str]]:
    """Insert new messages with one statement; give each its id and created_at.

    Returns the (author, client_msg_id) keys actually inserted: a key already stored (a
    retried send) is skipped by the database. The rows are not added to the session, so a
    batch costs one round trip instead of one per message (the ORM's flush on SQLite).
    """
    if not messages:
        return set()
    now = utcnow()
    rows = [
        {
            "ticket_id": m.ticket_id,
            "author_user_id": m.author_user_id,
            "body": m.body,
            "visibility": m.visibility,
            "client_msg_id": m.client_msg_id,
            "mentions": list(m.mentions or []),
            "attachments": m.attachments,
            "created_at": now,
        }
        for m in messages
    ]
    # One statement for the batch, said to the driver in one call on SQLite (see
    # app.kit.bulk_insert: the async adaptation per statement was most of a batch's cost).
    ids = {(a, c): i for i, a, c in await _INSERT_MESSAGES.run(session, rows)}
    for message in messages:
        key = (message.author_user_id or 0, message.client_msg_id)
        if key in ids:
            message.id = ids[key]
            message.created_at = now
    return set(ids)


async def list_messages(
    session: AsyncSession,
    ticket_id: int,
    *,
    include_internal: bool,
    after: int | None,
    limit: int,
    latest: bool = False,
) -> list[MessageRow]:
    """Messages in id order: the first `limit` after `after`, or the `latest` ones."""
    stmt = _with_author().where(ChatMessage.ticket_id == ticket_id)
    if not include_internal:
        stmt = stmt.where(ChatMessage.visibility == "public")
    if after is not None:
        stmt = stmt.where(ChatMessage.id > after)
    order = ChatMessage.id.desc() if latest else ChatMessage.id
    result = await session.execute(stmt.order_by(order).limit(limit))
    rows: list[MessageRow] = [(r[0], r[1]) for r in result]
    return rows[::-1] if latest else rows


async def missed_messages(
    session: AsyncSession,
    ticket_id: int,
    *,
    include_internal: bool,
    since: int,
    since_change: int | None,
    limit: int,
) -> list[MessageRow]:
    """What a reader who has seen up to message `since` is missing, in commit order.

    The messages after `since`, and the older ones changed since (in their current state):
    changed after revision `since_change` when the reader names it, else changed while
    message `since` was already stored (`changed_after_id >= since`). A change sorts
    after the message that was the ticket's latest when it was made and before the next.
    """
    new = ChatMessage.id > since
    changed = (
        ChatMessage.changed_after_id >= since
        if since_change is None
        else ChatMessage.revision > since_change
    )
    stmt = _with_author().where(ChatMessage.ticket_id == ticket_id, or_(new, changed))
    if not include_internal:
        stmt = stmt.where(ChatMessage.visibility == "public")
    stmt = stmt.order_by(
        case((new, ChatMessage.id), else_=ChatMessage.changed_after_id),
        case((new, 0), else_=1),
        ChatMessage.revision,
    )
    return [(r[0], r[1]) for r in await session.execute(stmt.limit(limit))]


async def changed_messages(
    session: AsyncSession,
    ticket_id: int,
    *,
    include_internal: bool,
    after_revision: int,
    limit: int,
) -> list[MessageRow]:
    """Messages whose latest edit or deletion came after `after_revision`, in that order."""
    stmt = _with_author().where(
        ChatMessage.ticket_id == ticket_id, ChatMessage.revision > after_revision
    )
    if not include_internal:
        stmt = stmt.where(ChatMessage.visibility == "public")
    result = await session.execute(stmt.order_by(ChatMessage.revision).limit(limit))
    return [(r[0], r[1]) for r in result]


async def next_revision(session: AsyncSession, ticket_id: int) -> tuple[int, int]:
    """The number of the ticket's next change and its latest message id.

    Only under the ticket's chat write lock (`service._lock_chat_writes`): numbers, like
    message ids, must become visible in the order they are given within the ticket.
    """
    stmt = select(
        select(func.coalesce(func.max(ChatMessage.revision), 0))
        .where(ChatMessage.ticket_id == ticket_id)
        .scalar_subquery(),
        select(func.max(ChatMessage.id))
        .where(ChatMessage.ticket_id == ticket_id)
        .scalar_subquery(),
    )
    latest_revision, latest_id = (await session.execute(stmt)).one()
    return int(latest_revision) + 1, int(latest_id)


async def timeline_entries(
    session: AsyncSession,
    ticket_id: int,
    *,
    include_internal: bool,
    after: int | None,
    limit: int,
) -> Sequence[TicketEvent]:
    """The ticket's timeline for the conversation: after `after`, else the latest ones."""
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
    if not include_internal:
        stmt = stmt.where(TicketEvent.visibility == "public")
    if after is not None:
        stmt = stmt.where(TicketEvent.id > after).order_by(TicketEvent.id)
        return (await session.execute(stmt.limit(limit))).scalars().all()
    rows = (await session.execute(stmt.order_by(TicketEvent.id.desc()).limit(limit))).scalars()
    return list(rows)[::-1]


async def get_timeline_entry(session: AsyncSession, event_id: int) -> TicketEvent | None:
    return await session.get(TicketEvent, event_id)


async def users_for_mentions(
    session: AsyncSession, user_ids: set[int], emails: set[str]
) -> list[User]:
    """Active users named by id or e-mail."""
    if not user_ids and not emails:
        return []
    stmt = select(User).where(
        or_(User.id.in_(user_ids), func.lower(User.email).in_(emails)), User.is_active.is_(True)
    )
    return list((await session.execute(stmt)).scalars())


async def advance_read_state(
    session: AsyncSession, *, user_id: int, ticket_id: int, message_id: int
) -> int:
    """Move the user's read marker forward (never back); returns where it stands."""
    dialect = session.get_bind().dialect.name
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = upsert(ChatReadState).values(
        user_id=user_id, ticket_id=ticket_id, last_read_message_id=message_id
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[ChatReadState.user_id, ChatReadState.ticket_id],
        set_={
            "last_read_message_id": func.max(
                ChatReadState.last_read_message_id, stmt.excluded.last_read_message_id
            )
            if dialect == "sqlite"
            else func.greatest(
                ChatReadState.last_read_message_id, stmt.excluded.last_read_message_id
            ),
            "updated_at": utcnow(),
        },
    )
    await session.execute(stmt)
    return await last_read(session, user_id=user_id, ticket_id=ticket_id) or message_id


async def last_read(session: AsyncSession, *, user_id: int, ticket_id: int) -> int | None:
    stmt = select(ChatReadState.last_read_message_id).where(
        ChatReadState.user_id == user_id, ChatReadState.ticket_id == ticket_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def read_states(session: AsyncSession, ticket_id: int) -> list[tuple[User, int]]:
    """Every active user's read marker on the ticket: the user and the last message read."""
    stmt = (
        select(User, ChatReadState.last_read_message_id)
        .join(ChatReadState, ChatReadState.user_id == User.id)
        .where(ChatReadState.ticket_id == ticket_id, User.is_active.is_(True))
        .order_by(User.name, User.id)
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]


async def last_public_message_at_or_before(
    session: AsyncSession, ticket_id: int, message_id: int
) -> int | None:
    """The latest public message of the ticket with an id up to `message_id`."""
    stmt = select(func.max(ChatMessage.id)).where(
        ChatMessage.ticket_id == ticket_id,
        ChatMessage.visibility == "public",
        ChatMessage.id <= message_id,
    )
    return (await session.execute(stmt)).scalar_one_or_none()
