"""The in-app inbox: list with the unread count, mark read, and "why did I get this"."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.errors import NotFound
from app.models import Delivery, InboxItem, User
from app.notifications import repository
from app.notifications.schemas import ExplainedDecision, Explanation, Inbox, NotificationOut


async def inbox_for(
    session: AsyncSession, *, user: User, before: int | None, limit: int, unread_only: bool
) -> Inbox:
    """Newest first, with the unread count; `before` pages further back."""
    items = await repository.inbox_page(
        session, user.id, before=before, limit=limit, unread_only=unread_only
    )
    return Inbox(
        unread_count=await repository.unread_count(session, user.id),
        items=[NotificationOut.model_validate(item) for item in items],
        next_before=items[-1].id if len(items) == limit else None,
    )


async def check_notification(session: AsyncSession, *, user: User, item_id: int) -> InboxItem:
    """One of the caller's notifications; someone else's looks exactly like a missing one."""
    item = await repository.get_inbox_item(session, user_id=user.id, item_id=item_id)
    if item is None:
        raise NotFound("notification not found")
    return item


async def do_mark_read(session: AsyncSession, *, user: User, item_id: int) -> NotificationOut:
    """Mark one notification read (idempotent: the first read time stays)."""
    item = await check_notification(session, user=user, item_id=item_id)
    if item.read_at is None:
        item.read_at = utcnow()
        await session.flush()
    return NotificationOut.model_validate(item)


async def do_mark_all_read(session: AsyncSession, *, user: User) -> int:
    """Mark every unread notification read; how many there were."""
    return await repository.mark_all_read(session, user.id)


async def explain(session: AsyncSession, *, user: User, item_id: int) -> Explanation:
    """The policy decisions behind a notification, as recorded with its outbox row."""
    item = await check_notification(session, user=user, item_id=item_id)
    delivery = await session.get(Delivery, item.delivery_id) if item.delivery_id else None
    parts: list[tuple[str, dict[str, Any]]] = []
    if delivery is not None:
        sources = [delivery]
        if delivery.payload.get("digest"):
            stmt = select(Delivery).where(Delivery.digest_id == delivery.id).order_by(Delivery.id)
            sources = list((await session.execute(stmt)).scalars())
        parts = [(s.channel, p) for s in sources for p in s.payload.get("parts", [])]
    decisions = [
        ExplainedDecision(
            event_key=str(part.get("event_key")),
            event_type=str(part.get("type")),
            channel=channel,
            outcome=str((part.get("decision") or {}).get("outcome")),
            rule_id=(part.get("decision") or {}).get("rule_id"),
            audience=(part.get("decision") or {}).get("audience"),
            reasons=list((part.get("decision") or {}).get("reasons") or []),
        )
        for channel, part in parts
    ]
    return Explanation(
        notification_id=item.id,
        delivery_id=item.delivery_id,
        summary=_summary(decisions),
        decisions=decisions,
    )


def _summary(decisions: list[ExplainedDecision]) -> str:
    if not decisions:
        return "The record of this notification's decision is no longer available."
    first = decisions[0]
    who = f" as one of the ticket's {first.audience}" if first.audience else ""
    rule = f"rule {first.rule_id!r}" if first.rule_id else "the policy"
    more = (
        f" (and {len(decisions) - 1} more update(s) gathered with it)" if len(decisions) > 1 else ""
    )
    return f"You got this{who}: {rule} sends {first.event_type} via {first.channel}{more}."
