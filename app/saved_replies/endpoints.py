"""Saved replies over HTTP, for staff: list, create, change, delete, render for a ticket."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth.permissions import Staff
from app.deps import Session
from app.kit.ids import Id
from app.kit.pagination import After, Limit, Page
from app.saved_replies import repository, service
from app.saved_replies.schemas import (
    RenderedReplyOut,
    SavedReplyCreate,
    SavedReplyOut,
    SavedReplyUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["saved replies"])

SharedFilter = Annotated[
    bool | None,
    Query(description="only shared replies (true) or only your personal ones (false)"),
]
TicketId = Annotated[Id, Query(description="the ticket to fill the placeholders in for")]


@router.get("/saved-replies")
async def list_replies(
    session: Session,
    staff: Staff,
    shared: SharedFilter = None,
    after: After = None,
    limit: Limit = 50,
) -> Page[SavedReplyOut]:
    """Your replies and everyone's shared ones, in id order."""
    rows = await repository.list_visible(session, staff, shared=shared, after=after, limit=limit)
    items = [service.reply_out(staff, reply, name) for reply, name in rows]
    return Page(items=items, next_after=items[-1].id if len(items) == limit else None)


@router.post("/saved-replies", status_code=status.HTTP_201_CREATED)
async def create_reply(body: SavedReplyCreate, session: Session, staff: Staff) -> SavedReplyOut:
    reply = await service.do_create_reply(session, owner=staff, data=body)
    return service.reply_out(staff, reply, staff.name)


@router.get("/saved-replies/{reply_id}")
async def get_reply(reply_id: Id, session: Session, staff: Staff) -> SavedReplyOut:
    reply, owner_name = await service.check_reply_visible(session, user=staff, reply_id=reply_id)
    return service.reply_out(staff, reply, owner_name)


@router.patch("/saved-replies/{reply_id}")
async def update_reply(
    reply_id: Id, body: SavedReplyUpdate, session: Session, staff: Staff
) -> SavedReplyOut:
    reply, owner_name = await service.do_update_reply(
        session, user=staff, reply_id=reply_id, data=body
    )
    return service.reply_out(staff, reply, owner_name)


@router.delete("/saved-replies/{reply_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_reply(reply_id: Id, session: Session, staff: Staff) -> None:
    await service.do_delete_reply(session, user=staff, reply_id=reply_id)


@router.get("/saved-replies/{reply_id}/render")
async def render_reply(
    reply_id: Id, ticket_id: TicketId, session: Session, staff: Staff
) -> RenderedReplyOut:
    """The reply's text with the placeholders filled in for the ticket, ready to send."""
    rendered = await service.render_reply(
        session, user=staff, reply_id=reply_id, ticket_id=ticket_id
    )
    return RenderedReplyOut(
        id=rendered.reply.id,
        ticket_id=rendered.ticket_id,
        title=rendered.reply.title,
        body=rendered.expansion.text,
        missing=list(rendered.expansion.missing),
    )
