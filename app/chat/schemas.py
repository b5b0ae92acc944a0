"""API shapes of ticket chat: HTTP bodies and the client frames of the WebSocket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.chat.limits import MAX_BODY_CHARS
from app.files.schemas import AttachmentOut
from app.kit.ids import Cursor, Id

ChatVisibility = Literal["public", "internal"]
Body = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_BODY_CHARS, strip_whitespace=False)
]
ClientMsgId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
# The count is checked against SOCIALDESK_ATTACHMENTS_PER_MESSAGE by the service; this
# bound only keeps a hostile list from being parsed at all.
AttachmentIds = Annotated[list[Id], Field(max_length=100)]


class Author(BaseModel):
    id: int | None
    name: str | None


class MessageOut(BaseModel):
    """A message as clients see it: Markdown `body` and its sanitized `html`."""

    id: int
    ticket_id: int
    author: Author
    body: str
    html: str
    visibility: ChatVisibility
    client_msg_id: str
    mentions: list[int]
    external_comment_id: str | None
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    revision: int | None = Field(
        description="the number of the message's latest edit or deletion (none until it "
        "changes); send the highest one seen as `since_change` to resume"
    )
    attachments: list[AttachmentOut] = Field(
        default_factory=list, description="the files the message carries (none once deleted)"
    )


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Body
    visibility: ChatVisibility = "public"
    client_msg_id: ClientMsgId | None = Field(
        default=None, description="makes a retried send idempotent (generated when omitted)"
    )
    attachments: AttachmentIds = Field(
        default_factory=list,
        description="ids of your own uploads to this ticket (POST .../attachments) to carry",
    )


class MessageUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Body


class ReadMark(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: Id


class ReadStateOut(BaseModel):
    ticket_id: int
    user_id: int
    last_read_message_id: int


# --- client -> server frames ----------------------------------------------------------


class _Frame(BaseModel):
    # Unknown keys are ignored so newer clients can talk to older servers.
    model_config = ConfigDict(extra="ignore")

    ref: str | int | None = None


class SubscribeFrame(_Frame):
    ticket_id: Id
    since: Cursor | None = Field(default=None, description="last message id seen")
    since_event: Cursor | None = Field(default=None, description="last timeline id seen")
    since_change: Cursor | None = Field(
        default=None, description="highest revision seen (with `since`)"
    )


class UnsubscribeFrame(_Frame):
    ticket_id: Id


class MessageFrame(_Frame):
    ticket_id: Id
    body: str  # length checked by the handler, so the error names the limit
    visibility: ChatVisibility = "public"
    client_msg_id: ClientMsgId
    attachments: AttachmentIds = Field(default_factory=list)


class TypingFrame(_Frame):
    ticket_id: Id
    visibility: ChatVisibility = "public"


class ReadFrame(_Frame):
    ticket_id: Id
    message_id: Id


class PingFrame(_Frame):
    pass


@dataclass(frozen=True)
class ChatMessageEvent:
    """The `chat.message` domain event, built once per accepted message."""

    name: ClassVar[str] = "chat.message"

    message_id: int
    ticket_id: int
    connector_id: int  # the ticketing system the ticket lives in
    author_user_id: int | None
    visibility: str
    mentions: tuple[int, ...]
    occurred_at: datetime

    @property
    def source_id(self) -> str:
        return f"chat:{self.message_id}"

    def as_dict(self) -> dict[str, Any]:
        """The event as data, in the shape the policy and the outbox store."""
        return {
            "type": self.name,
            "source_id": self.source_id,
            "ticket_id": self.ticket_id,
            "connector_id": self.connector_id,
            "message_id": self.message_id,
            "actor_user_id": self.author_user_id,
            "visibility": self.visibility,
            "mentions": list(self.mentions),
            "occurred_at": self.occurred_at.isoformat(),
        }
