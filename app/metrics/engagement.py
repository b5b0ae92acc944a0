"""Engagement: are people using the social layer, and does it tell them in time?"""

from __future__ import annotations

from datetime import datetime
from statistics import median

from pydantic import BaseModel
from sqlalchemy import String, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ChatMessage, Delivery, Ticket, TicketEvent, TicketFollow

STATUS_KINDS = ("ticket.status_changed", "ticket.resolved", "ticket.reopened")


class Engagement(BaseModel):
    since: datetime
    until: datetime
    tickets: int
    followers_per_ticket: float | None  # explicit follows plus the requester
    chat_messages_per_ticket: float | None
    share_with_chat: float | None
    deliveries_by_channel: dict[str, int]
    requester_told_median_seconds: float | None  # status change -> notification sent


def _ratio(part: float, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def engagement(session: AsyncSession, *, since: datetime, until: datetime) -> Engagement:
    """Figures for tickets opened, and deliveries sent, in [since, until)."""
    opened = select(Ticket.id).where(Ticket.opened_at >= since, Ticket.opened_at < until)
    tickets = int(await session.scalar(select(func.count()).select_from(opened.subquery())) or 0)
    with_requester = int(
        await session.scalar(
            select(func.count()).where(Ticket.id.in_(opened), Ticket.requester_user_id.is_not(None))
        )
        or 0
    )
    follows = int(
        await session.scalar(
            select(func.count())
            .select_from(TicketFollow)
            .where(TicketFollow.ticket_id.in_(opened), TicketFollow.muted.is_(False))
        )
        or 0
    )
    chat = (
        await session.execute(
            select(ChatMessage.ticket_id, func.count())
            .where(ChatMessage.ticket_id.in_(opened), ChatMessage.deleted_at.is_(None))
            .group_by(ChatMessage.ticket_id)
        )
    ).all()
    channels = dict(
        (
            await session.execute(
                select(Delivery.channel, func.count())
                .where(
                    Delivery.status == "sent", Delivery.sent_at >= since, Delivery.sent_at < until
                )
                .group_by(Delivery.channel)
            )
        ).all()
    )
    return Engagement(
        since=since,
        until=until,
        tickets=tickets,
        followers_per_ticket=_ratio(follows + with_requester, tickets),
        chat_messages_per_ticket=_ratio(sum(n for _, n in chat), tickets),
        share_with_chat=_ratio(len(chat), tickets),
        deliveries_by_channel={str(k): int(v) for k, v in channels.items()},
        requester_told_median_seconds=await _time_to_tell(session, since, until),
    )


async def _time_to_tell(session: AsyncSession, since: datetime, until: datetime) -> float | None:
    """Median time from a status change to the first notification the requester got."""
    rows = (
        await session.execute(
            select(TicketEvent.id, TicketEvent.occurred_at, Delivery.sent_at)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .join(
                Delivery,
                (
                    Delivery.event_key
                    == literal("ticket_event:", String) + cast(TicketEvent.id, String)
                )
                & (Delivery.user_id == Ticket.requester_user_id),
            )
            .where(
                TicketEvent.kind.in_(STATUS_KINDS),
                TicketEvent.occurred_at >= since,
                TicketEvent.occurred_at < until,
                Delivery.status == "sent",
            )
        )
    ).all()
    first: dict[int, float] = {}
    for event_id, occurred_at, sent_at in rows:
        if sent_at is None:
            continue
        seconds = max(0.0, (sent_at - occurred_at).total_seconds())
        first[event_id] = min(seconds, first.get(event_id, seconds))
    return median(first.values()) if first else None
