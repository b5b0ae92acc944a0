"""What leaves for clients: message shapes, server frames and the bus envelopes carrying them.

A frame is serialized once, here, and the same text goes to every socket that may have it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from app.chat.rendering import render_markdown
from app.chat.repository import AnyMessage
from app.chat.schemas import Author, MessageOut
from app.files.schemas import AttachmentOut, attachment_json
from app.models import ChatMessage, TicketEvent
from app.realtime.bus import Envelope
from app.tickets.schemas import TimelineEntry

# The bus envelope type the hub fans out as is: {"type": "chat", "visibility", "text"}.
CHAT_ENVELOPE = "chat"


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, default=str)


def _attachments(message: AnyMessage) -> list[dict[str, Any]]:
    if message.deleted_at is not None or not message.attachments:
        return []
    return [attachment_json(a) for a in message.attachments]


def message_out(message: AnyMessage, author_name: str | None) -> MessageOut:
    """A message as clients see it (deleted ones keep their place, without content)."""
    body = "" if message.deleted_at is not None else message.body
    return MessageOut(
        id=message.id,
        ticket_id=message.ticket_id,
        author=Author(id=message.author_user_id, name=author_name),
        body=body,
        html=render_markdown(body) if body else "",
        visibility=message.visibility,
        client_msg_id=message.client_msg_id,
        mentions=list(message.mentions or []),
        external_comment_id=message.external_comment_id,
        created_at=message.created_at,
        edited_at=message.edited_at,
        deleted_at=message.deleted_at,
        revision=message.revision,
        attachments=[AttachmentOut.model_validate(a) for a in _attachments(message)],
    )


def _instant(moment: datetime | None) -> str | None:
    """An instant as `MessageOut` serializes a UTC one (what the database gives)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def message_json(message: AnyMessage, author_name: str | None) -> dict[str, Any]:
    """`message_out(...).model_dump(mode="json")` without the model: the hot path of live
    chat builds one per message. The shape is MessageOut's (a test holds them equal)."""
    body = "" if message.deleted_at is not None else message.body
    return {
        "id": message.id,
        "ticket_id": message.ticket_id,
        "author": {"id": message.author_user_id, "name": author_name},
        "body": body,
        "html": render_markdown(body) if body else "",
        "visibility": message.visibility,
        "client_msg_id": message.client_msg_id,
        "mentions": list(message.mentions or []),
        "external_comment_id": message.external_comment_id,
        "created_at": _instant(message.created_at),
        "edited_at": _instant(message.edited_at),
        "deleted_at": _instant(message.deleted_at),
        "revision": message.revision,
        "attachments": _attachments(message),
    }


def message_frame(kind: str, message: AnyMessage, author_name: str | None) -> dict[str, Any]:
    """A `message` or `message_updated` frame."""
    return {
        "type": kind,
        "ticket_id": message.ticket_id,
        "message": message_json(message, author_name),
    }


def deleted_frame(message: ChatMessage) -> dict[str, Any]:
    return {
        "type": "message_deleted",
        "ticket_id": message.ticket_id,
        "message_id": message.id,
        "deleted_at": _instant(message.deleted_at),
        "revision": message.revision,
    }


def ticket_event_frame(event: TicketEvent) -> dict[str, Any]:
    """A timeline entry of the ticket, shown in the conversation as a system entry."""
    return {
        "type": "ticket_event",
        "ticket_id": event.ticket_id,
        "event_id": event.id,
        "kind": event.kind,
        "visibility": event.visibility,
        "entry": TimelineEntry.model_validate(event).model_dump(mode="json"),
    }


def chat_envelope(frame: dict[str, Any], visibility: str) -> Envelope:
    """The bus envelope: the serialized frame plus what the hub needs to route it.

    Chat frames travel whole (bodies are bounded at 10,000 characters) so that every
    replica fans out without reading the database once per message.
    """
    envelope: Envelope = {"type": CHAT_ENVELOPE, "visibility": visibility, "text": dumps(frame)}
    if frame["type"] == "message":
        envelope["message_id"] = frame["message"]["id"]
    return envelope


def error_frame(
    code: str, message: str, *, ref: str | int | None = None, **extra: Any
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    frame.update(extra)
    return frame
