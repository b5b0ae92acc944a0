"""Freshservice's JSON, validated: a ticket or conversation that does not fit is skipped.

contracts/freshservice/README.md § 1 (ticket attributes: integer ids, `priority`, `status`;
`null` for empty ids), § 2 (conversations: `private` is the internal flag, `body` HTML and
`body_text`), § 9 (datetimes; the only raw one seen is ISO 8601 UTC,
`2024-02-01T10:05:34.648Z`). A time without a zone is read as UTC (ASSUMED: the wire format
of ticket times was not captured).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError


def parse_timestamp(value: object) -> object:
    """An ISO 8601 time → an aware UTC datetime (naive: UTC, ASSUMED)."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    return value


def iso(moment: datetime) -> str:
    """A UTC time with milliseconds, as kept in the cursor (sorts as text)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def wire_time(moment: datetime) -> str:
    """A UTC time to the second, as sent in `updated_since` (§ 9)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
Id = Annotated[int, Field(gt=0, lt=2**63)]


class Ticket(BaseModel):
    """One ticket of the listing (or of a read), the fields the sync reads (§ 1)."""

    model_config = ConfigDict(extra="ignore")

    id: Id
    workspace_id: int | None = None
    subject: str | None = None
    description_text: str | None = None
    status: int
    priority: int | None = None
    requester_id: int | None = None
    responder_id: int | None = None
    group_id: int | None = None
    type: str | None = None
    deleted: bool = False
    spam: bool = False
    created_at: Timestamp
    updated_at: Timestamp

    @property
    def external_id(self) -> str:
        return str(self.id)

    @property
    def position(self) -> tuple[datetime, int]:
        """Where the ticket sorts in the poll's order: (`updated_at`, `id`)."""
        return self.updated_at, self.id


class Conversation(BaseModel):
    """One reply or note (§ 2): `private` true is an internal note."""

    model_config = ConfigDict(extra="ignore")

    id: Id
    private: bool
    incoming: bool = False
    body: str = ""
    body_text: str | None = None
    user_id: int | None = None
    ticket_id: int | None = None
    source: int | None = None
    created_at: Timestamp


class Person(BaseModel):
    """A requester or agent (ASSUMED endpoints and fields, see `people.py`)."""

    model_config = ConfigDict(extra="ignore")

    id: Id
    first_name: str | None = None
    last_name: str | None = None
    primary_email: str | None = None
    email: str | None = None

    @property
    def name(self) -> str | None:
        parts = [p.strip() for p in (self.first_name, self.last_name) if p and p.strip()]
        return " ".join(parts) or None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Tracked:
    """The fields whose changes the sync reports; the subject is kept as a digest."""

    status: str
    priority: str
    responder_id: str
    group_id: str
    requester_id: str
    subject: str

    @classmethod
    def of(cls, ticket: Ticket, status: str) -> Tracked:
        return cls(
            status=status,
            priority=str(ticket.priority or ""),
            responder_id=str(ticket.responder_id or ""),
            group_id=str(ticket.group_id or ""),
            requester_id=str(ticket.requester_id or ""),
            subject=_digest(ticket.subject or ""),
        )

    def as_list(self) -> list[str]:
        return [
            self.status,
            self.priority,
            self.responder_id,
            self.group_id,
            self.requester_id,
            self.subject,
        ]

    @classmethod
    def from_list(cls, values: list[Any]) -> Tracked:
        return cls(*(str(v) for v in values))


def first_error(exc: ValidationError) -> str:
    """The first problem of a ValidationError, one line."""
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or 'item'}: {error['msg']}"
