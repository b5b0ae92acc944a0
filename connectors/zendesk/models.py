"""Zendesk's JSON, validated: a ticket or comment that does not fit is skipped, not trusted.

contracts/zendesk/README.md § 1a (the export's tickets), § 2 (comments, `public`), § 9
(ISO 8601 UTC times; `generated_timestamp` in Unix epoch seconds). Ids are integers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


class ZendeskTicket(BaseModel):
    """One ticket of the export (or of a read), the fields the sync reads."""

    model_config = ConfigDict(extra="ignore")

    id: int = Field(gt=0)
    subject: str | None = None
    description: str | None = None
    status: str = ""
    priority: str | None = None
    requester_id: int | None = None
    assignee_id: int | None = None
    group_id: int | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    generated_timestamp: int = 0
    type: str | None = None

    @field_validator("created_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @property
    def external_id(self) -> str:
        return str(self.id)


class ZendeskComment(BaseModel):
    """One comment (§ 2): `public` false is an internal note."""

    model_config = ConfigDict(extra="ignore")

    id: int = Field(gt=0)
    public: bool
    body: str = ""
    plain_body: str | None = None
    author_id: int | None = None
    created_at: AwareDatetime
    type: str = "Comment"

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class ZendeskUser(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    name: str | None = None
    email: str | None = None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Tracked:
    """The fields whose changes the sync reports; the subject is kept as a digest."""

    status: str
    priority: str
    assignee_id: str
    group_id: str
    requester_id: str
    subject: str

    @classmethod
    def of(cls, ticket: ZendeskTicket) -> Tracked:
        return cls(
            status=ticket.status,
            priority=ticket.priority or "",
            assignee_id=str(ticket.assignee_id or ""),
            group_id=str(ticket.group_id or ""),
            requester_id=str(ticket.requester_id or ""),
            subject=_digest(ticket.subject or ""),
        )

    def as_list(self) -> list[str]:
        return [
            self.status,
            self.priority,
            self.assignee_id,
            self.group_id,
            self.requester_id,
            self.subject,
        ]

    @classmethod
    def from_list(cls, values: list[str]) -> Tracked:
        return cls(*(str(v) for v in values))
