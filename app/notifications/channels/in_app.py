"""The in-app inbox: a row per notification, then a live push on the user's bus channel.

Exactly once: the inbox row carries the delivery's idempotency key (unique), so a retry
after a crash inserts nothing. The push (`{"type": "notification", "id": ...}` on
`user:{id}`, which /ws forwards) happens after commit; the inbox is the record, the push a
hint, so a lost push loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import after_commit, unit_of_work
from app.models import InboxItem
from app.notifications.channels import ChannelBase, DeliveryResult, Outcome
from app.notifications.content import OutboundMessage, check_egress, render_text
from app.outbox.repository import insert_ignoring_conflicts
from app.policy.guard.egress import InternalContentLeak
from app.realtime.bus import Bus

log = logging.getLogger(__name__)


def user_channel(user_id: int) -> str:
    """The bus channel of one person's live notifications."""
    return f"user:{user_id}"


class InAppChannel(ChannelBase):
    key: ClassVar[str] = "in_app"

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], bus: Bus) -> None:
        self.sessionmaker = sessionmaker
        self.bus = bus

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        (outcome,) = await self.send_many([message])
        if isinstance(outcome, InternalContentLeak):
            raise outcome
        return outcome

    async def send_many(self, messages: Sequence[OutboundMessage]) -> list[Outcome]:
        """One transaction for the whole batch: the inbox rows, then the pushes."""
        outcomes: list[Outcome] = []
        rows: list[dict[str, Any]] = []
        for message in messages:
            try:
                check_egress(message)
            except InternalContentLeak as leak:
                outcomes.append(leak)
                continue
            rows.append(_row(message))
            outcomes.append(DeliveryResult.sent("in inbox"))
        if not rows:
            return outcomes
        try:
            async with unit_of_work(self.sessionmaker) as session:
                inserted = await insert_ignoring_conflicts(
                    session, InboxItem, rows, unique="idempotency_key"
                )
                owner = {row["idempotency_key"]: row["user_id"] for row in rows}
                pushes = [(owner[key], item_id) for item_id, key in inserted]
                after_commit(session, lambda: self._push(pushes))
        except Exception as exc:
            failed = DeliveryResult.failed(f"inbox write failed: {type(exc).__name__}: {exc}")
            return [o if isinstance(o, InternalContentLeak) else failed for o in outcomes]
        return outcomes

    async def _push(self, pushes: list[tuple[int, int]]) -> None:
        try:
            for user_id, item_id in pushes:
                envelope = {"type": "notification", "id": item_id}
                await self.bus.publish(user_channel(user_id), envelope)
        except Exception:
            # Committed already: the inbox has it; the socket learns of it on next load.
            log.warning("live push of %s notifications failed", len(pushes), exc_info=True)


def _row(message: OutboundMessage) -> dict[str, Any]:
    return {
        "user_id": message.user_id,
        "idempotency_key": message.idempotency_key,
        "delivery_id": message.delivery_id,
        "ticket_id": message.ticket_id,
        "event_type": message.event_type,
        "title": message.subject[:500],
        "body": render_text(message, with_link=False),
        "url": message.link,
    }
