"""`chat.message` events for the communications policy: who hears about a message.

Deciding who hears about a message (audiences, policy, decisions, outbox rows) is kept off
the chat write path: a message is stored and acknowledged first, and the `ChatNotifier`
worker reacts to stored messages in batches, each batch in one transaction with its
decisions and outbox rows. The message row's `notified_at` marks the reaction done, so a
crash replays at most one batch, and replays are idempotent (decisions are keyed by event).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.schemas import ChatMessageEvent
from app.chat.service import message_event
from app.db import unit_of_work
from app.followers.service import do_follow_as_participant
from app.kit.clock import utcnow
from app.kit.polling import poll_until_stopped
from app.metrics.prometheus import CHAT_MESSAGES
from app.models import ChatMessage, Role, Ticket, User
from app.policy.decisions.notify import notify_event
from app.policy.decisions.sources import EventScope, SourcedEvent, id_in_key
from app.policy.decisions.ticket_events import ticket_facts
from app.policy.engine.evaluator import Actor, PolicyEvent

EVENT_KEY_PREFIX = "chat_message:"
BATCH = 200
log = logging.getLogger(__name__)


async def notify_chat_messages(
    session: AsyncSession, events: Sequence[ChatMessageEvent], *, follow_on_comment: bool = True
) -> None:
    """Decide every new message's notifications in the messages' own transaction."""
    if not events:
        return
    ticket_ids = {e.ticket_id for e in events}
    tickets = {
        t.id: t
        for t in (await session.execute(select(Ticket).where(Ticket.id.in_(ticket_ids)))).scalars()
    }
    bodies = dict(
        (
            await session.execute(
                select(ChatMessage.id, ChatMessage.body).where(
                    ChatMessage.id.in_([e.message_id for e in events])
                )
            )
        ).all()
    )
    authors = {e.author_user_id for e in events if e.author_user_id is not None}
    roles: dict[int, Role] = {}
    if authors:
        rows = await session.execute(select(User.id, User.role).where(User.id.in_(authors)))
        roles = {uid: Role(role) for uid, role in rows.all()}
    for event in events:
        CHAT_MESSAGES.labels(visibility=event.visibility).inc()
        ticket = tickets[event.ticket_id]
        role = roles.get(event.author_user_id) if event.author_user_id is not None else None
        sourced = _sourced(event, ticket, bodies.get(event.message_id, ""), role)
        await notify_event(session, sourced.event, sourced.scope)
        if follow_on_comment and role is not None and role.is_staff:
            # An agent who wrote on a ticket hears what happens next (unless they opted out).
            await do_follow_as_participant(
                session, ticket_id=ticket.id, user_id=event.author_user_id or 0
            )


def _sourced(event: ChatMessageEvent, ticket: Ticket, body: str, role: Role | None) -> SourcedEvent:
    """The policy's view of one message (`chat_message:<id>`) and the scope it is judged in."""
    policy_event = PolicyEvent(
        key=f"{EVENT_KEY_PREFIX}{event.message_id}",
        type="chat.message",
        # Anything but an explicit "public" is internal: fail closed.
        visibility="public" if event.visibility == "public" else "internal",
        occurred_at=event.occurred_at,
        actor=Actor(event.author_user_id, role.value) if role is not None else None,
        ticket=ticket_facts(ticket),
        body=body,
        mentions=frozenset(event.mentions),
    )
    scope = EventScope(
        ticket_id=ticket.id,
        service=ticket.service,
        subject=f"chat message on ticket {ticket.external_id}: {ticket.title}",
    )
    return SourcedEvent(policy_event, scope)


async def load_chat_message_event(session: AsyncSession, key: str) -> SourcedEvent | None:
    """The policy event of `chat_message:<id>` (for an approver's release); None once the
    message was deleted or its ticket is gone. An edited message is read as it is now."""
    message_id = id_in_key(key, EVENT_KEY_PREFIX)
    if message_id is None:
        return None
    stmt = (
        select(ChatMessage, Ticket, User.role)
        .join(Ticket, Ticket.id == ChatMessage.ticket_id)
        .outerjoin(User, User.id == ChatMessage.author_user_id)
        .where(ChatMessage.id == message_id)
    )
    found = (await session.execute(stmt)).first()
    if found is None or found[0].deleted_at is not None:
        return None
    message, ticket, role = found
    author_role = Role(role) if role is not None else None
    return _sourced(message_event(message, ticket.connector_id), ticket, message.body, author_role)


async def notify_pending(
    sessionmaker: async_sessionmaker[AsyncSession], *, follow_on_comment: bool = True
) -> int:
    """React to one batch of stored, not yet notified messages; how many were handled."""
    async with unit_of_work(sessionmaker) as session:
        stmt = (
            select(ChatMessage, Ticket.connector_id)
            .join(Ticket, Ticket.id == ChatMessage.ticket_id)
            .where(ChatMessage.notified_at.is_(None))
            .order_by(ChatMessage.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True, of=ChatMessage)
        )
        rows = (await session.execute(stmt)).all()
        if not rows:
            return 0
        await notify_chat_messages(
            session, [message_event(m, cid) for m, cid in rows], follow_on_comment=follow_on_comment
        )
        await session.execute(
            update(ChatMessage)
            .where(ChatMessage.id.in_([m.id for m, _ in rows]))
            .values(notified_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return len(rows)


class ChatNotifier:
    """The worker: polls for stored messages nobody has reacted to yet."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        tick: float = 0.5,
        follow_on_comment: bool = True,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.tick = tick
        self.wake = wake
        self.follow_on_comment = follow_on_comment

    async def run(self, stop: asyncio.Event) -> None:
        async def one_pass() -> int:
            return await notify_pending(self.sessionmaker, follow_on_comment=self.follow_on_comment)

        await poll_until_stopped(
            stop, one_pass, tick=self.tick, full=BATCH, what="chat notifications", wake=self.wake
        )
