"""Operations on saved replies. Services never commit; the caller's unit of work does."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models import Role, SavedReply, User
from app.saved_replies import repository
from app.saved_replies.placeholders import (
    PLACEHOLDERS,
    Expansion,
    ReplyContext,
    expand,
    unknown_placeholders,
)
from app.saved_replies.schemas import Owner, SavedReplyCreate, SavedReplyOut, SavedReplyUpdate
from app.tickets import service as tickets_service


def may_edit(user: User, reply: SavedReply) -> bool:
    """Its owner; for a shared reply an admin too. Nobody else's personal replies."""
    return reply.owner_user_id == user.id or (reply.shared and user.role is Role.ADMIN)


def reply_out(user: User, reply: SavedReply, owner_name: str) -> SavedReplyOut:
    return SavedReplyOut(
        id=reply.id,
        title=reply.title,
        body=reply.body,
        shared=reply.shared,
        owner=Owner(id=reply.owner_user_id, name=owner_name),
        editable=may_edit(user, reply),
        created_at=reply.created_at,
        updated_at=reply.updated_at,
    )


def check_reply_body(body: str) -> None:
    """A body has text, and only the placeholders Socialdesk can fill in."""
    if not body.strip():
        raise InvalidInput("the reply's text is empty", code="empty_body")
    unknown = unknown_placeholders(body)
    if unknown:
        names = ", ".join(f"{{{{{name}}}}}" for name in unknown)
        known = ", ".join(f"{{{{{name}}}}}" for name in PLACEHOLDERS)
        raise InvalidInput(
            f"unknown placeholder {names}; known: {known}",
            code="unknown_placeholder",
            details=[
                {
                    "field": "body",
                    "message": f"unknown placeholder {{{{{name}}}}}",
                    "type": "unknown_placeholder",
                    "placeholder": name,
                }
                for name in unknown
            ],
        )


async def check_reply_visible(
    session: AsyncSession, *, user: User, reply_id: int
) -> tuple[SavedReply, str]:
    """The reply and its owner's name; someone else's personal reply looks missing."""
    found = await repository.get_visible(session, user, reply_id)
    if found is None:
        raise NotFound("saved reply not found")
    return found


async def check_reply_editable(
    session: AsyncSession, *, user: User, reply_id: int
) -> tuple[SavedReply, str]:
    """The reply, if `user` may change it (404 unseen, 403 someone else's shared one)."""
    reply, owner_name = await check_reply_visible(session, user=user, reply_id=reply_id)
    if not may_edit(user, reply):
        raise Forbidden(
            "a shared reply is changed only by its author or an admin", code="not_reply_author"
        )
    return reply, owner_name


async def _check_title_free(
    session: AsyncSession, *, owner_user_id: int, title: str, other_than: int | None
) -> None:
    if await repository.title_taken(
        session, owner_user_id=owner_user_id, title=title, other_than=other_than
    ):
        raise Conflict(f"a saved reply titled {title!r} exists already", code="title_taken")


async def _flush(session: AsyncSession, title: str) -> None:
    # A concurrent save of the same title fails here on the unique key (the transaction is
    # then done for; a caller that carries on wraps the call in a savepoint).
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(
            f"a saved reply titled {title!r} exists already", code="title_taken"
        ) from None


async def do_create_reply(
    session: AsyncSession, *, owner: User, data: SavedReplyCreate
) -> SavedReply:
    """Save a new reply owned by `owner`."""
    check_reply_body(data.body)
    await _check_title_free(session, owner_user_id=owner.id, title=data.title, other_than=None)
    reply = SavedReply(owner_user_id=owner.id, title=data.title, body=data.body, shared=data.shared)
    session.add(reply)
    await _flush(session, data.title)
    return reply


async def do_update_reply(
    session: AsyncSession, *, user: User, reply_id: int, data: SavedReplyUpdate
) -> tuple[SavedReply, str]:
    """Change a reply's title, text or sharing; the owner stays who wrote it."""
    reply, owner_name = await check_reply_editable(session, user=user, reply_id=reply_id)
    if data.body is not None:
        check_reply_body(data.body)
        reply.body = data.body
    if data.title is not None and data.title != reply.title:
        await _check_title_free(
            session, owner_user_id=reply.owner_user_id, title=data.title, other_than=reply.id
        )
        reply.title = data.title
    if data.shared is not None:
        reply.shared = data.shared
    await _flush(session, reply.title)
    return reply, owner_name


async def do_delete_reply(session: AsyncSession, *, user: User, reply_id: int) -> None:
    """Delete a reply (the same people who may change it)."""
    reply, _ = await check_reply_editable(session, user=user, reply_id=reply_id)
    await session.delete(reply)
    await session.flush()


@dataclass(frozen=True, slots=True)
class RenderedReply:
    reply: SavedReply
    ticket_id: int
    expansion: Expansion


async def render_reply(
    session: AsyncSession, *, user: User, reply_id: int, ticket_id: int
) -> RenderedReply:
    """The reply's text with its placeholders filled in for one ticket and this agent."""
    reply, _ = await check_reply_visible(session, user=user, reply_id=reply_id)
    ticket = await tickets_service.check_ticket_visible(session, user=user, ticket_id=ticket_id)
    context = ReplyContext(
        requester_name=await tickets_service.requester_name_of(session, ticket),
        ticket_number=ticket.external_id,
        ticket_title=ticket.title,
        agent_name=user.name,
    )
    return RenderedReply(reply, ticket.id, expand(reply.body, context))
