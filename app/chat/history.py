"""The conversation as a reader sees it: pages of messages, and the backlog on subscribe."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.chat import frames, repository
from app.chat.limits import ChatLimits
from app.chat.repository import MessageRow
from app.models import User
from app.tickets.service import check_ticket_visible


async def list_messages_for(
    session: AsyncSession, *, user: User, ticket_id: int, after: int | None, limit: int
) -> list[MessageRow]:
    """Messages after `after` in id order; internal ones only for staff."""
    await check_ticket_visible(session, user=user, ticket_id=ticket_id)
    return await repository.list_messages(
        session, ticket_id, include_internal=user.role.is_staff, after=after, limit=limit
    )


@dataclass
class Backlog:
    """What a subscriber missed: message and timeline frames, oldest first."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    # `internal` as soon as one entry is: the egress guard judges the frame as a whole.
    visibility: str = "public"
    has_more: bool = False
    last_message_id: int | None = None
    last_event_id: int | None = None
    last_read_message_id: int | None = None

    def subscribed_frame(self, ticket_id: int) -> dict[str, Any]:
        return {
            "type": "subscribed",
            "ticket_id": ticket_id,
            "backlog": self.frames,
            "has_more": self.has_more,
            "last_read_message_id": self.last_read_message_id,
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


async def _backlog_messages(
    session: AsyncSession, ticket_id: int, *, staff: bool, since: int | None, limits: ChatLimits
) -> tuple[list[MessageRow], bool]:
    """After `since`: the oldest that fit (and whether more remain); else the latest."""
    rows = await repository.list_messages(
        session,
        ticket_id,
        include_internal=staff,
        after=since,
        limit=limits.backlog_messages + (since is not None),
        latest=since is None,
    )
    if since is None:
        return _fitting(rows[::-1], limits.backlog_bytes)[::-1], False
    fitting = _fitting(rows[: limits.backlog_messages], limits.backlog_bytes)
    return fitting, len(fitting) < len(rows)


async def conversation_backlog(
    session: AsyncSession,
    *,
    user: User,
    ticket_id: int,
    since: int | None,
    since_event: int | None,
    limits: ChatLimits,
) -> Backlog:
    """Messages after `since` (else the latest) and timeline entries after `since_event`.

    Visibility is applied in SQL for the reader: end users never get internal entries.
    """
    await check_ticket_visible(session, user=user, ticket_id=ticket_id)
    staff = user.role.is_staff
    rows, has_more = await _backlog_messages(
        session, ticket_id, staff=staff, since=since, limits=limits
    )
    events = await repository.timeline_entries(
        session, ticket_id, include_internal=staff, after=since_event, limit=limits.backlog_events
    )
    entries: list[tuple[Any, int, dict[str, Any]]] = [
        (m.created_at, 1, frames.message_frame("message", m, name)) for m, name in rows
    ]
    entries += [(e.created_at, 0, frames.ticket_event_frame(e)) for e in events]
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    internal = any(m.visibility != "public" for m, _ in rows)
    internal = internal or any(e.visibility != "public" for e in events)
    return Backlog(
        frames=[frame for _, _, frame in entries],
        visibility="internal" if internal else "public",
        has_more=has_more,
        last_message_id=rows[-1][0].id if rows else since,
        last_event_id=events[-1].id if events else since_event,
        last_read_message_id=await repository.last_read(
            session, user_id=user.id, ticket_id=ticket_id
        ),
    )
