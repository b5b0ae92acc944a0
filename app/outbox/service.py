"""What admins do with the outbox: look at deliveries and send a dead one again."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.errors import Conflict, NotFound
from app.models import Delivery


async def check_delivery(session: AsyncSession, delivery_id: int) -> Delivery:
    """The delivery, or NotFound."""
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound("delivery not found")
    return delivery


async def do_retry(session: AsyncSession, delivery_id: int) -> Delivery:
    """Put a dead delivery back in line now, with a fresh budget of attempts."""
    delivery = await check_delivery(session, delivery_id)
    if delivery.status != "dead":
        raise Conflict(
            f"only a dead delivery can be retried; this one is {delivery.status}",
            code="not_dead",
        )
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.deliver_at = utcnow()
    delivery.lease_owner = None
    delivery.lease_expires_at = None
    await session.flush()
    return delivery
