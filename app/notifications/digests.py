"""Digests: a recipient's due digest rows on one channel become one message.

Each decision with a digest outcome is its own outbox row, due at the digest boundary the
policy computed (the recipient's zone and quiet hours included). When rows fall due, they
are folded into one new row (`timing: send`, payload `{"digest": true}`) that the relay
sends like any other; the folded rows become `merged` and point at it (`digest_id`), so a
digest is sent exactly as reliably as a single notification and can be explained.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Delivery
from app.outbox.repository import PENDING


def _due_digest_rows(now: datetime) -> list[ColumnElement[bool]]:
    return [
        PENDING,
        Delivery.timing == "digest",
        Delivery.deliver_at <= now,
        or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at < now),
    ]


async def assemble_digests(
    session: AsyncSession,
    *,
    now: datetime,
    channels: Sequence[str] | None = None,
    limit: int = 200,
) -> int:
    """Fold due digest rows (of `channels`) into one row per recipient and channel."""
    due = _due_digest_rows(now)
    if channels is not None:
        due.append(Delivery.channel.in_(channels))
    groups = (
        select(Delivery.recipient_key, Delivery.channel)
        .where(*due)
        .group_by(Delivery.recipient_key, Delivery.channel)
        .limit(limit)
    )
    made = 0
    for recipient_key, channel in (await session.execute(groups)).all():
        stmt = (
            select(Delivery)
            .where(
                *_due_digest_rows(now),
                Delivery.recipient_key == recipient_key,
                Delivery.channel == channel,
            )
            .order_by(Delivery.id)
            .with_for_update(skip_locked=True)
        )
        items = list((await session.execute(stmt)).scalars())
        if not items:
            continue  # another worker is folding them
        first = items[0]
        digest = Delivery(
            idempotency_key=f"digest:{first.id}:{recipient_key}:{channel}",
            event_key=f"digest:{first.id}",
            recipient_key=recipient_key,
            channel=channel,
            user_id=first.user_id,
            destination_id=first.destination_id,
            timing="send",
            status="pending",
            payload={"digest": True, "items": len(items)},
            deliver_at=now,
            attempts=0,
        )
        session.add(digest)
        await session.flush()
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_([item.id for item in items]))
            .values(status="merged", digest_id=digest.id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        made += 1
    return made
