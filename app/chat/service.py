"""Operations on ticket chat. Services never commit; the caller's unit of work does.

`message_listeners` is the hook point where reactions to a new message plug in (today:
write-back scheduling; next: the communications policy).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.chat import frames, repository
from app.chat.limits import MAX_ATTACHMENTS, MAX_BODY_CHARS
from app.chat.rendering import parse_mentions
from app.chat.repository import AnyMessage, MessageRow, NewChatMessage
from app.chat.schemas import ChatMessageEvent
from app.db import after_commit
from app.files import service as files_service
from app.kit.clock import utcnow
from app.kit.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound
from app.kit.wakeups import wake_after_commit
from app.models import ChatMessage, ChatMessageAudit, Role, Ticket, User
from app.realtime.bus import Bus
from app.tickets import repository as tickets_repository
from app.tickets.service import check_ticket_visible

# The upper half of every ticket's chat write lock key (the ticket id is the lower half):
# any constant works; it only has to be the same in every process of the deployment.
CHAT_WRITE_LOCK = 0x63686174
KNOWN_TICKETS_MAX = 100_000
# The wake-up queue of the chat notifier (app.chat.events; app.kit.wakeups).
CHAT_NOTIFY_QUEUE = "chat-notify"


def message_event(message: AnyMessage, connector_id: int) -> ChatMessageEvent:
    """The `chat.message` event of a stored message of a ticket in that connector."""
    return ChatMessageEvent(
        message_id=message.id,
        ticket_id=message.ticket_id,
        connector_id=connector_id,
        author_user_id=message.author_user_id,
        visibility=message.visibility,
        mentions=tuple(message.mentions or ()),
        occurred_at=message.created_at,
    )


MessageListener = Callable[[AsyncSession, Sequence[ChatMessageEvent]], Awaitable[None]]

# Every listener runs, in order, inside the transaction that stores the messages, once per
# batch of new messages (never for a retried send); whatever it writes commits or rolls
# back with them. app/wiring.py registers chat write-back here (public -> public comment,
# internal -> internal note); deciding who hears of a message runs in a worker instead
# (app.chat.events.ChatNotifier), off this latency-sensitive path.
message_listeners: list[MessageListener] = []


async def notify_chat_messages(
    session: AsyncSession, messages: Sequence[AnyMessage], connectors: dict[int, int]
) -> list[ChatMessageEvent]:
    """Build one `chat.message` event per message and run every listener on them.

    `connectors` maps each message's ticket to its connector instance.
    """
    events = [message_event(message, connectors[message.ticket_id]) for message in messages]
    for listener in list(message_listeners):
        await listener(session, events)
    return events


@dataclass(frozen=True)
class NewMessage:
    author: User
    ticket_id: int
    body: str
    visibility: str
    client_msg_id: str
    # Ids of the author's own uploads to the ticket that the message carries.
    attachments: tuple[int, ...] = ()


@dataclass
class PostOutcome:
    """A stored message (`created` False for a retried send), or why it was refused."""

    message: AnyMessage | None = None
    created: bool = False
    error: AppError | None = None


def check_visibility_allowed(user: User, visibility: str) -> None:
    """End users post public messages only."""
    if visibility not in ("public", "internal"):
        raise InvalidInput("visibility must be public or internal", code="invalid_visibility")
    if visibility == "internal" and not user.role.is_staff:
        raise Forbidden("only agents can post internal messages")


def check_body(body: str, max_chars: int = MAX_BODY_CHARS) -> None:
    """A body is not empty and at most `max_chars` characters."""
    if not body.strip():
        raise InvalidInput("the message body is empty", code="empty_body")
    if len(body) > max_chars:
        raise InvalidInput(
            f"the message body is longer than {max_chars} characters",
            code="body_too_long",
            details={"max_chars": max_chars, "length": len(body)},
        )


async def posted_message(
    session: AsyncSession, *, author_id: int, client_msg_id: str
) -> ChatMessage | None:
    """The message this author already stored under `client_msg_id` (a retried send)."""
    found = await repository.messages_by_client_ids(session, [(author_id, client_msg_id)])
    return found.get((author_id, client_msg_id))


async def check_message_visible(
    session: AsyncSession, *, user: User, message_id: int
) -> MessageRow:
    """The message if `user` may read it; otherwise it does not exist (404)."""
    row = await repository.get_message(session, message_id)
    if row is None or (row[0].visibility == "internal" and not user.role.is_staff):
        raise NotFound("message not found")
    await check_ticket_visible(session, user=user, ticket_id=row[0].ticket_id)
    return row


async def check_message_editable(
    session: AsyncSession, *, user: User, message_id: int
) -> MessageRow:
    """The message if `user` wrote it or is an admin, and it is not deleted."""
    row = await check_message_visible(session, user=user, message_id=message_id)
    if row[0].author_user_id != user.id and user.role is not Role.ADMIN:
        raise Forbidden("only the author or an admin can change a message")
    if row[0].deleted_at is not None:
        raise Conflict("this message was deleted", code="message_deleted")
    return row


async def _lock_chat_writes(session: AsyncSession, ticket_ids: Iterable[int]) -> None:
    """Serialise chat writes per ticket, held to commit.

    Clients resume a conversation from the last id (and change number) they saw, so within
    a ticket ids must become visible in increasing order: a message committed later with a
    smaller id would be skipped. Other tickets do not matter to that reader, so writes to
    different tickets run in parallel (on PostgreSQL; SQLite has one writer anyway). Locks
    are taken in ticket order, so two batches can never wait on each other.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for ticket_id in sorted(set(ticket_ids)):
        key = (CHAT_WRITE_LOCK << 32) | (ticket_id & 0xFFFFFFFF)  # a collision only waits
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def _lock_message_ticket(session: AsyncSession, message_id: int) -> None:
    """The write lock of the ticket a message is on (a message never changes ticket)."""
    stmt = select(ChatMessage.ticket_id).where(ChatMessage.id == message_id)
    ticket_id = (await session.execute(stmt)).scalar_one_or_none()
    if ticket_id is not None:  # a missing message is reported by the caller's own check
        await _lock_chat_writes(session, [ticket_id])


async def _postable(
    session: AsyncSession, posts: Sequence[NewMessage], known: dict[int, int] | None = None
) -> tuple[set[tuple[int, int]], dict[int, int]]:
    """(author id, ticket id) pairs where the author may see the ticket; ticket -> connector.

    `known` remembers ticket -> connector across calls (a ticket never changes system), so
    a batch from agents on known tickets needs no query at all.
    """
    ticket_ids = {p.ticket_id for p in posts}
    known = {} if known is None else known
    connectors = {t: known[t] for t in ticket_ids if t in known}
    if missing := ticket_ids - connectors.keys():
        stmt = select(Ticket.id, Ticket.connector_id).where(Ticket.id.in_(missing))
        found: dict[int, int] = {row[0]: row[1] for row in await session.execute(stmt)}
        connectors.update(found)
        if len(known) > KNOWN_TICKETS_MAX:
            known.clear()
        known.update(found)
    tickets_of: dict[int, tuple[User, set[int]]] = {}
    for post in posts:
        tickets_of.setdefault(post.author.id, (post.author, set()))[1].add(post.ticket_id)
    allowed: set[tuple[int, int]] = set()
    for author, tickets in tickets_of.values():
        wanted = tickets & connectors.keys()
        if author.role.is_staff:
            allowed |= {(author.id, t) for t in wanted}
            continue
        visible = select(Ticket.id).where(
            Ticket.id.in_(wanted), tickets_repository.visible_to(author)
        )
        allowed |= {(author.id, t) for t in (await session.execute(visible)).scalars()}
    return allowed, connectors


async def _may_read(session: AsyncSession, user: User, message: AnyMessage) -> bool:
    if user.role.is_staff:
        return True
    if message.visibility != "public":
        return False
    return await tickets_repository.get_visible(session, user, message.ticket_id) is not None


async def _resolve_mentions(session: AsyncSession, messages: Sequence[AnyMessage]) -> None:
    """Mentions become ids of active users who may read the message (not the author)."""
    tokens = {id(m): parse_mentions(m.body) for m in messages}
    ids = {i for t in tokens.values() for i in t.user_ids}
    emails = {e for t in tokens.values() for e in t.emails}
    users = await repository.users_for_mentions(session, ids, emails)
    by_id = {u.id: u for u in users}
    by_email = {u.email.lower(): u.id for u in users}
    for message in messages:
        found = tokens[id(message)]
        named = {i for i in found.user_ids if i in by_id}
        named |= {by_email[e] for e in found.emails if e in by_email}
        named.discard(message.author_user_id or 0)
        message.mentions = sorted([i for i in named if await _may_read(session, by_id[i], message)])


def publish_frame(
    session: AsyncSession,
    bus: Bus,
    ticket_id: int,
    build: Callable[[], dict[str, Any]],
    visibility: str,
) -> None:
    """Publish a chat frame on the ticket's channel once the transaction has committed."""

    async def _publish() -> None:
        # Built after commit: rendering stays out of the write lock.
        await bus.publish(f"ticket:{ticket_id}", frames.chat_envelope(build(), visibility))

    after_commit(session, _publish)


def _new_message(
    post: NewMessage,
    allowed: set[tuple[int, int]],
    files: files_service.PostingRows,
    taken: set[int],
    max_attachments: int,
) -> NewChatMessage:
    """The message for a post, or the AppError saying why it is refused."""
    check_visibility_allowed(post.author, post.visibility)
    check_body(post.body)
    if (post.author.id, post.ticket_id) not in allowed:
        raise NotFound("ticket not found")
    carried = None
    if post.attachments:
        carried = files_service.check_attachable(
            files,
            post.attachments,
            author_id=post.author.id,
            ticket_id=post.ticket_id,
            client_msg_id=post.client_msg_id,
            taken=taken,
            max_count=max_attachments,
        ).summaries
    return NewChatMessage(
        ticket_id=post.ticket_id,
        author_user_id=post.author.id,
        body=post.body,
        visibility=post.visibility,
        client_msg_id=post.client_msg_id,
        mentions=[],
        attachments=carried,
    )


async def do_post_messages(
    session: AsyncSession,
    posts: Sequence[NewMessage],
    *,
    bus: Bus,
    known_tickets: dict[int, int] | None = None,
    max_attachments: int = MAX_ATTACHMENTS,
) -> list[PostOutcome]:
    """Store messages (one outcome per post, in order); retried sends return the first.

    `known_tickets` is a cache of ticket -> connector the caller keeps between calls.
    """
    await _lock_chat_writes(session, (post.ticket_id for post in posts))
    allowed, connectors = await _postable(session, posts, known_tickets)
    # One query for the files of the whole batch, and only when a post carries some.
    files = await files_service.rows_for_posting(
        session, [i for post in posts for i in post.attachments]
    )
    taken: set[int] = set()
    fresh: dict[tuple[int, str], NewChatMessage] = {}
    refused: dict[int, AppError] = {}
    for i, post in enumerate(posts):
        key = (post.author.id, post.client_msg_id)
        if key not in fresh:
            try:
                fresh[key] = _new_message(post, allowed, files, taken, max_attachments)
            except AppError as exc:
                refused[i] = exc
    await _resolve_mentions(session, list(fresh.values()))
    # One INSERT for the batch (ids follow arrival order); a client_msg_id already stored
    # is skipped by the database and answered with the message stored first.
    created = await repository.insert_messages(session, list(fresh.values()))
    retried = [key for key in fresh if key not in created]
    stored: dict[tuple[int, str], AnyMessage] = dict(fresh)
    stored.update(await repository.messages_by_client_ids(session, retried))
    new = sorted((fresh[key] for key in created), key=lambda m: m.id)
    for message in new:
        if message.attachments:
            ids = [a["id"] for a in message.attachments]
            await files_service.do_attach(session, message_id=message.id, ids=ids)
    await notify_chat_messages(session, new, connectors)
    if new:
        wake_after_commit(session, CHAT_NOTIFY_QUEUE)  # the notifier reacts to them
    names = {p.author.id: p.author.name for p in posts}
    for message in new:
        publish_frame(
            session,
            bus,
            message.ticket_id,
            _frame_builder("message", message, names.get(message.author_user_id or 0)),
            message.visibility,
        )
    outcomes = []
    first: set[tuple[int, str]] = set()
    for i, post in enumerate(posts):
        key = (post.author.id, post.client_msg_id)
        if i in refused:
            outcomes.append(PostOutcome(error=refused[i]))
        else:
            outcomes.append(PostOutcome(stored[key], created=key in created and key not in first))
            first.add(key)
    return outcomes


def _frame_builder(
    kind: str, message: AnyMessage, author_name: str | None
) -> Callable[[], dict[str, Any]]:
    return lambda: frames.message_frame(kind, message, author_name)


async def do_post_message(
    session: AsyncSession, post: NewMessage, *, bus: Bus, max_attachments: int = MAX_ATTACHMENTS
) -> PostOutcome:
    """Store one message; raises the refusal instead of returning it."""
    outcome = (await do_post_messages(session, [post], bus=bus, max_attachments=max_attachments))[0]
    if outcome.error is not None:
        raise outcome.error
    return outcome


async def _number_change(session: AsyncSession, message: ChatMessage) -> None:
    """Give an edit or deletion its place in the conversation's order (see history.py).

    The caller holds the chat write lock, so numbers become visible in increasing order
    and `changed_after_id` is exact: the change comes after that message, before the next.
    """
    message.revision, message.changed_after_id = await repository.next_revision(
        session, message.ticket_id
    )


async def do_edit_message(
    session: AsyncSession, *, user: User, message_id: int, body: str, bus: Bus
) -> MessageRow:
    """Change a message's body, keeping the old one in the audit trail."""
    check_body(body)
    await _lock_message_ticket(session, message_id)  # first: read as the lock leaves it
    message, author_name = await check_message_editable(session, user=user, message_id=message_id)
    session.add(
        ChatMessageAudit(
            message_id=message.id, action="edit", old_body=message.body, actor_user_id=user.id
        )
    )
    message.body = body
    message.edited_at = utcnow()
    await _resolve_mentions(session, [message])
    await _number_change(session, message)
    await session.flush()
    publish_frame(
        session,
        bus,
        message.ticket_id,
        _frame_builder("message_updated", message, author_name),
        message.visibility,
    )
    return message, author_name


async def do_delete_message(
    session: AsyncSession, *, user: User, message_id: int, bus: Bus
) -> ChatMessage:
    """Delete a message: its body moves to the audit trail; its place (id) stays."""
    await _lock_message_ticket(session, message_id)
    message, _ = await check_message_editable(session, user=user, message_id=message_id)
    session.add(
        ChatMessageAudit(
            message_id=message.id, action="delete", old_body=message.body, actor_user_id=user.id
        )
    )
    message.body = ""
    message.mentions = []
    if message.attachments:
        message.attachments = None
        await files_service.do_discard_for_message(session, message.id)
    message.deleted_at = utcnow()
    await _number_change(session, message)
    await session.flush()
    publish_frame(
        session, bus, message.ticket_id, lambda: frames.deleted_frame(message), message.visibility
    )
    return message


async def do_mark_read(
    session: AsyncSession, *, user: User, ticket_id: int, message_id: int, bus: Bus
) -> int:
    """Move the user's read marker forward; tells the room when it moved."""
    message, _ = await check_message_visible(session, user=user, message_id=message_id)
    if message.ticket_id != ticket_id:
        raise NotFound("message not found")
    before = await repository.last_read(session, user_id=user.id, ticket_id=ticket_id)
    now_at = await repository.advance_read_state(
        session, user_id=user.id, ticket_id=ticket_id, message_id=message_id
    )
    if before is None or now_at > before:
        frame = {
            "type": "read",
            "ticket_id": ticket_id,
            "user_id": user.id,
            "name": user.name,
            "staff": user.role.is_staff,
            "message_id": message.id,  # never a later (maybe internal) id a race moved it to
        }
        # Reading an internal note is staff business, and end users hear of the desk's
        # reads only: an end user's read goes to staff alone.
        visibility = message.visibility if user.role.is_staff else "internal"
        publish_frame(session, bus, ticket_id, lambda: frame, visibility)
    return now_at
