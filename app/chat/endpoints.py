"""Ticket chat over HTTP, for clients that cannot hold a socket: same rules, same events."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.auth.permissions import CurrentUser
from app.chat import frames, history, service
from app.chat.schemas import MessageCreate, MessageOut, MessageUpdate, ReadMark, ReadStateOut
from app.deps import AppSettings, Bus, Session
from app.kit.errors import InvalidInput
from app.kit.ids import Cursor, Id
from app.kit.pagination import After, Limit, Page
from app.realtime.hub import get_hub

router = APIRouter(prefix="/api/v1", tags=["chat"])


ChangedAfter = Annotated[
    Cursor | None,
    Query(
        description="instead of `after`: the messages edited or deleted after this "
        "revision, in revision order (`next_after` is then a revision too)",
    ),
]


@router.get("/tickets/{ticket_id}/messages")
async def list_messages(
    ticket_id: Id,
    session: Session,
    user: CurrentUser,
    after: After = None,
    limit: Limit = 50,
    changed_after: ChangedAfter = None,
) -> Page[MessageOut]:
    """Messages in id order after `after`; or, with `changed_after`, the ones changed since."""
    if changed_after is not None:
        if after is not None:
            raise InvalidInput("give either after or changed_after, not both")
        changed = await history.list_changes_for(
            session, user=user, ticket_id=ticket_id, after_revision=changed_after, limit=limit
        )
        items = [frames.message_out(message, name) for message, name in changed]
        last = items[-1].revision if len(items) == limit else None
        return Page(items=items, next_after=last)
    rows = await history.list_messages_for(
        session, user=user, ticket_id=ticket_id, after=after, limit=limit
    )
    items = [frames.message_out(message, name) for message, name in rows]
    return Page(items=items, next_after=items[-1].id if len(items) == limit else None)


@router.post("/tickets/{ticket_id}/messages", status_code=status.HTTP_201_CREATED)
async def post_message(
    ticket_id: Id,
    body: MessageCreate,
    request: Request,
    response: Response,
    session: Session,
    bus: Bus,
    settings: AppSettings,
    user: CurrentUser,
) -> MessageOut:
    """201 with the new message; 200 with the first one when `client_msg_id` was used."""
    service.check_visibility_allowed(user, body.visibility)
    get_hub(request.app).limiter.check(user.id)
    post = service.NewMessage(
        author=user,
        ticket_id=ticket_id,
        body=body.body,
        visibility=body.visibility,
        client_msg_id=body.client_msg_id or f"http-{secrets.token_hex(12)}",
        attachments=tuple(body.attachments),
    )
    outcome = await service.do_post_message(
        session, post, bus=bus, max_attachments=settings.attachments_per_message
    )
    assert outcome.message is not None
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    return frames.message_out(outcome.message, user.name)


@router.patch("/messages/{message_id}")
async def edit_message(
    message_id: Id, body: MessageUpdate, session: Session, bus: Bus, user: CurrentUser
) -> MessageOut:
    message, author_name = await service.do_edit_message(
        session, user=user, message_id=message_id, body=body.body, bus=bus
    )
    return frames.message_out(message, author_name)


@router.delete("/messages/{message_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_message(message_id: Id, session: Session, bus: Bus, user: CurrentUser) -> None:
    await service.do_delete_message(session, user=user, message_id=message_id, bus=bus)


@router.post("/tickets/{ticket_id}/read")
async def mark_read(
    ticket_id: Id, body: ReadMark, session: Session, bus: Bus, user: CurrentUser
) -> ReadStateOut:
    last = await service.do_mark_read(
        session, user=user, ticket_id=ticket_id, message_id=body.message_id, bus=bus
    )
    return ReadStateOut(ticket_id=ticket_id, user_id=user.id, last_read_message_id=last)
