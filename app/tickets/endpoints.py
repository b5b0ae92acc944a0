from __future__ import annotations

from fastapi import APIRouter

from app.auth.permissions import CurrentUser
from app.deps import Session
from app.kit.ids import Id
from app.kit.pagination import After, Limit, Page
from app.tickets import repository, service
from app.tickets.schemas import TicketOut, TimelineEntry
from connectors.base import NormalizedStatus

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])


@router.get("")
async def list_tickets(
    session: Session,
    user: CurrentUser,
    connector_id: Id | None = None,
    external_id: str | None = None,
    status: NormalizedStatus | None = None,
    after: After = None,
    limit: Limit = 50,
) -> Page[TicketOut]:
    tickets = await repository.list_visible(
        session,
        user,
        connector_id=connector_id,
        external_id=external_id,
        status=status,
        after=after,
        limit=limit,
    )
    items = [TicketOut.model_validate(t) for t in tickets]
    return Page(items=items, next_after=items[-1].id if len(items) == limit else None)


@router.get("/{ticket_id}")
async def get_ticket(ticket_id: Id, session: Session, user: CurrentUser) -> TicketOut:
    ticket = await service.check_ticket_visible(session, user=user, ticket_id=ticket_id)
    return TicketOut.model_validate(ticket)


@router.get("/{ticket_id}/timeline")
async def get_timeline(
    ticket_id: Id,
    session: Session,
    user: CurrentUser,
    after: After = None,
    limit: Limit = 100,
) -> Page[TimelineEntry]:
    events = await service.timeline_for(
        session, user=user, ticket_id=ticket_id, after=after, limit=limit
    )
    items = [TimelineEntry.model_validate(e) for e in events]
    return Page(items=items, next_after=items[-1].id if len(items) == limit else None)
