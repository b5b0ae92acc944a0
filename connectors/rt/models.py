"""RT's REST 2 JSON, validated: a record that does not fit is skipped, not trusted.

RT sends a ticket's own `id` as a number and every other id and number as a string; role
members are references whose `id` is the user *Name* (an e-mail address for auto-created
users), expanded with `fields[Role]=Name,EmailAddress,RealName`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

NOBODY = "Nobody"  # RT's owner of unowned tickets
TICKET_FIELDS = "Subject,Status,Priority,Owner,Requestor,Created,LastUpdated,Queue"
USER_FIELDS = "Name,EmailAddress,RealName"


class UserRef(BaseModel):
    """A user reference, possibly expanded with Name, EmailAddress and RealName."""

    id: str
    Name: str | None = None
    EmailAddress: str | None = None
    RealName: str | None = None


class Ticket(BaseModel):
    """A ticket from `GET /tickets?query=...&fields=<TICKET_FIELDS>` (expanded roles)."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    id: int
    Subject: str = ""
    Status: str
    Priority: str = "0"
    Owner: UserRef | None = None
    Requestor: list[UserRef] = Field(default_factory=list)
    Created: AwareDatetime
    LastUpdated: AwareDatetime


class Transaction(BaseModel):
    """One entry of a ticket's history (`GET /transactions?query=...&fields=...`)."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    id: int
    Type: str
    Field: str = ""
    OldValue: str | None = None
    NewValue: str | None = None
    Created: AwareDatetime
    Creator: UserRef
    ObjectId: int


class Attachment(BaseModel):
    """A MIME part of a transaction; `Content` is plain text when selected via `fields`."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    id: int
    TransactionId: str | None = None
    ContentType: str = ""
    Content: str | None = None

    @field_validator("TransactionId", mode="before")
    @classmethod
    def _reference_id(cls, value: object) -> object:
        # A collection gives the bare id; a single attachment gives a reference object.
        return value.get("id") if isinstance(value, dict) else value


def rt_timestamp(moment: datetime) -> str:
    """A TicketSQL date literal: `YYYY-MM-DD HH:MM:SS` in UTC (RT misreads ISO 8601)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def quote(value: str) -> str:
    """A TicketSQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def message_text(attachments: list[Attachment]) -> str:
    """The readable body of a message: its first non-empty text/plain part, else text/html."""
    for wanted in ("text/plain", "text/html"):
        for part in attachments:
            if part.ContentType.lower() == wanted and part.Content:
                return part.Content
    return ""
