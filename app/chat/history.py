"""The conversation as a reader sees it: pages of messages, and the backlog on subscribe.

Where a reader stands is the last message id it saw (`since`) and, optionally, the highest
revision it saw (`since_change`). Message ids and revisions are both given under the chat
write lock, so they become visible in commit order; each change also records the ticket's
latest message id when it was made (`changed_after_id`). A resume is therefore exact:

- new messages: `id > since`;
- changes to older messages: `revision > since_change` when the reader sends it, else
  `changed_after_id >= since` (every change made once message `since` was stored: nothing
  is missed; a change the reader already saw live may come again, as it stands now);
- in commit order: a change goes after the message that was the latest when it was made.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.chat import frames, repository
from app.chat.limits import ChatLimits
from app.chat.repository import MessageRow
from app.models import ChatMessage, User
from app.tickets.service import check_ticket_visible


async def list_messages_for(
    session: AsyncSession, *, user: User, ticket_id: int, after: int | None, limit: int
) -> list[MessageRow]:
    """Messages after `after` in id order; internal ones only for staff."""
    await check_ticket_visible(session, user=user, ticket_id=ticket_id)
    return await repository.list_messages(
        session, ticket_id, include_internal=user.role.is_staff, after=after, limit=limit
    )


async def list_changes_for(
    session: AsyncSession, *, user: User, ticket_id: int, after_revision: int, limit: int
) -> list[MessageRow]:
    """Messages edited or deleted after revision `after_revision`, in revision order, as
    they stand now; internal ones only for staff."""
    await check_ticket_visible(session, user=user, ticket_id=ticket_id)
    return await repository.changed_messages(
        session,
        ticket_id,
        include_internal=user.role.is_staff,
        after_revision=after_revision,
        limit=limit,
    )


@dataclass
class Backlog:
    """What a subscriber missed: message, change and timeline frames, oldest first."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    # `internal` as soon as one entry is: the egress guard judges the frame as a whole.
    visibility: str = "public"
    has_more: bool = False
    last_message_id: int | None = None
    last_event_id: int | None = None
    last_read_message_id: int | None = None
    # The highest revision the reader now holds (when known): `since_change` next time.
    last_revision: int | None = None

    def subscribed_frame(self, ticket_id: int) -> dict[str, Any]:
        return {
            "type": "subscribed",
            "ticket_id": ticket_id,
            "backlog": self.frames,
            "has_more": self.has_more,
            "last_read_message_id": self.last_read_message_id,
            # What to send in the next subscribe to carry on exactly from here.
            "resume": {
                "since": self.last_message_id,
                "since_event": self.last_event_id,
                "since_change": self.last_revision,
            },
        }


def _fitting(rows: list[MessageRow], budget: int) -> list[MessageRow]:
    """The leading rows whose frames fit in about `budget` bytes (at least one)."""
    fitting: list[MessageRow] = []
    for row in rows:
        # body + rendered html (about as long again, or longer with markup) + fields
        budget -= 2 * len(row[0].body) + 400
        if budget < 0 and fitting:
            break
        fitting.append(row)
    return fitting


def _highest(revisions: Iterable[int | None], start: int | None = None) -> int | None:
    return max((r for r in (start, *revisions) if r is not None), default=None)


@dataclass
class _Chat:
    """The conversation part of a backlog: frames (with their times) in commit order."""

    entries: list[tuple[datetime, dict[str, Any]]]
    internal: bool
    has_more: bool
    last_message_id: int | None
    last_revision: int | None


async def _latest(
    session: AsyncSession, ticket_id: int, *, staff: bool, limits: ChatLimits
) -> _Chat:
    """A first subscribe: the latest messages as they stand now."""
    rows = await repository.list_messages(
        session,
        ticket_id,
        include_internal=staff,
        after=None,
        limit=limits.backlog_messages,
        latest=True,
    )
    rows = _fitting(rows[::-1], limits.backlog_bytes)[::-1]
    return _Chat(
        entries=[(m.created_at, frames.message_frame("message", m, name)) for m, name in rows],
        internal=any(m.visibility != "public" for m, _ in rows),
        has_more=False,
        last_message_id=rows[-1][0].id if rows else None,
        last_revision=_highest(m.revision for m, _ in rows),
    )


def _missed_frame(message: ChatMessage, name: str | None, since: int) -> dict[str, Any]:
    if message.id > since:
        return frames.message_frame("message", message, name)
    if message.deleted_at is not None:
        return frames.deleted_frame(message)
    return frames.message_frame("message_updated", message, name)


async def _missed(
    session: AsyncSession,
    ticket_id: int,
    *,
    staff: bool,
    since: int,
    since_change: int | None,
    limits: ChatLimits,
) -> _Chat:
    """A resume: new messages after `since` and changes to older ones, in commit order.

    Each message comes once, as it stands now: a new one as `message` (edited or deleted
    since, it says so), an older one as `message_updated` or `message_deleted`.
    """
    rows = await repository.missed_messages(
        session,
        ticket_id,
        include_internal=staff,
        since=since,
        since_change=since_change,
        limit=limits.backlog_messages + 1,
    )
    fitting = _fitting(rows[: limits.backlog_messages], limits.backlog_bytes)
    has_more = len(fitting) < len(rows)
    changes = [m for m, _ in fitting if m.id <= since]
    # Cut short, a message sent here as new may carry a later revision than a change not
    # sent yet: only the changes sent in order (to older messages) say how far we got.
    counted = changes if has_more else [m for m, _ in fitting]
    entries = [
        (_changed_at(m) if m.id <= since else m.created_at, _missed_frame(m, name, since))
        for m, name in fitting
    ]
    return _Chat(
        entries=entries,
        internal=any(m.visibility != "public" for m, _ in fitting),
        has_more=has_more,
        last_message_id=max([since, *(m.id for m, _ in fitting)]),
        last_revision=_highest((m.revision for m in counted), since_change),
    )


def _changed_at(message: ChatMessage) -> datetime:
    return message.deleted_at or message.edited_at or message.created_at


async def conversation_backlog(
    session: AsyncSession,
    *,
    user: User,
    ticket_id: int,
    since: int | None,
    since_event: int | None,
    limits: ChatLimits,
    since_change: int | None = None,
) -> Backlog:
    """What the reader is missing (without `since`, the latest messages), and timeline
    entries after `since_event` (else the latest ones), merged in time order.

    Visibility is applied in SQL for the reader: end users never get internal entries,
    nor the edits and deletions of internal messages.
    """
    await check_ticket_visible(session, user=user, ticket_id=ticket_id)
    staff = user.role.is_staff
    if since is None:
        chat = await _latest(session, ticket_id, staff=staff, limits=limits)
    else:
        chat = await _missed(
            session, ticket_id, staff=staff, since=since, since_change=since_change, limits=limits
        )
    events = await repository.timeline_entries(
        session, ticket_id, include_internal=staff, after=since_event, limit=limits.backlog_events
    )
    timeline = sorted(
        ((e.created_at, frames.ticket_event_frame(e)) for e in events), key=lambda t: t[0]
    )
    # A merge, not a sort: the conversation keeps its commit order whatever the clocks
    # said; a timeline entry goes before messages of the same instant.
    merged = heapq.merge(timeline, chat.entries, key=lambda entry: entry[0])
    internal = chat.internal or any(e.visibility != "public" for e in events)
    return Backlog(
        frames=[frame for _, frame in merged],
        visibility="internal" if internal else "public",
        has_more=chat.has_more,
        last_message_id=chat.last_message_id,
        last_event_id=events[-1].id if events else since_event,
        last_read_message_id=await repository.last_read(
            session, user_id=user.id, ticket_id=ticket_id
        ),
        last_revision=chat.last_revision,
    )
