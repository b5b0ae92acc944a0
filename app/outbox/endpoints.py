"""Admin view of the outbox: dead letters and retries."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.permissions import Admin
from app.deps import Session
from app.kit.ids import Id
from app.kit.pagination import After, Limit, Page
from app.outbox import repository, service
from app.outbox.schemas import AttemptOut, DeliveryDetail, DeliveryOut, DeliveryStatus

router = APIRouter(prefix="/api/v1/admin/deliveries", tags=["deliveries (admin)"])


@router.get("")
async def list_deliveries(
    session: Session,
    _admin: Admin,
    status: DeliveryStatus | None = None,
    after: After = None,
    limit: Limit = 50,
) -> Page[DeliveryOut]:
    rows = await repository.list_by_status(session, status=status, after=after, limit=limit)
    items = [DeliveryOut.model_validate(row) for row in rows]
    return Page(items=items, next_after=items[-1].id if len(items) == limit else None)


@router.get("/{delivery_id}")
async def get_delivery(delivery_id: Id, session: Session, _admin: Admin) -> DeliveryDetail:
    delivery = await service.check_delivery(session, delivery_id)
    attempts = [
        AttemptOut.model_validate(a) for a in await repository.attempts_of(session, delivery_id)
    ]
    return DeliveryDetail(**DeliveryOut.model_validate(delivery).model_dump(), attempt_log=attempts)


@router.post("/{delivery_id}/retry")
async def retry_delivery(delivery_id: Id, session: Session, _admin: Admin) -> DeliveryOut:
    return DeliveryOut.model_validate(await service.do_retry(session, delivery_id))
