"""API shapes of the status domain. Inputs forbid unknown fields and bound every text."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.kit.ids import Id
from app.status.lifecycle import (
    Audience,
    Impact,
    IncidentKind,
    IncidentStatus,
    ServiceStatus,
    UpdateState,
    Visibility,
)

MAX_BODY = 10_000
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def _stripped(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty or blank")
    return value


def _slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError("a slug is 1-64 lower-case letters, digits and inner hyphens")
    return value


MAX_URL = 999  # the column holds 1000, and a bare host gains a "/"


def _webhook_url(value: object) -> object:
    """Only http(s) URLs, said plainly (no file:, ftp:, javascript: or bare hosts)."""
    if not isinstance(value, str) or not re.match(r"^https?://", value.strip(), re.IGNORECASE):
        raise PydanticCustomError("url_scheme", "a webhook URL must be an http:// or https:// URL")
    if len(value) > MAX_URL:
        raise PydanticCustomError("url_too_long", f"a webhook URL has at most {MAX_URL} characters")
    return value.strip()


Text = Annotated[str, Field(min_length=1, max_length=MAX_BODY), AfterValidator(_stripped)]
Title = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_stripped)]
Reason = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_stripped)]
Slug = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_slug)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServiceCreate(_In):
    slug: Slug
    name: Title
    group: Annotated[str, Field(max_length=100)] = ""
    description: Annotated[str, Field(max_length=2000)] = ""
    visibility: Visibility = "internal"
    position: Annotated[int, Field(ge=0, le=10_000)] = 0


class ServiceUpdate(_In):
    name: Title | None = None
    group: Annotated[str | None, Field(max_length=100)] = None
    description: Annotated[str | None, Field(max_length=2000)] = None
    visibility: Visibility | None = None
    position: Annotated[int | None, Field(ge=0, le=10_000)] = None


class ServiceOverride(_In):
    """Set (`status`) or clear (`null`) the manual status; the reason is audited."""

    status: ServiceStatus | None
    reason: Reason


class ServiceOut(BaseModel):
    slug: str
    name: str
    group: str
    description: str
    visibility: Visibility
    position: int
    status: ServiceStatus
    override_status: ServiceStatus | None = Field(
        default=None, description="staff only: the manual status, when set"
    )


class AffectedService(_In):
    service: Slug
    impact: Impact | None = Field(
        default=None, description="default: major_outage (incident) or maintenance"
    )


class UpdateCreate(_In):
    status: IncidentStatus | None = Field(default=None, description="default: unchanged")
    body: Text = Field(description="the staff text; never shown outside staff")
    public_body: Text | None = Field(
        default=None, description="what employees or the public read instead of the body"
    )
    audience: Audience = "internal"


class IncidentCreate(_In):
    kind: IncidentKind = "incident"
    title: Title
    public_title: Title | None = None
    services: list[AffectedService] = Field(min_length=1, max_length=50)
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None
    update: UpdateCreate = Field(description="the first update; its status is the start state")

    @model_validator(mode="after")
    def _schedule(self) -> IncidentCreate:
        if self.kind == "maintenance":
            if self.scheduled_start is None or self.scheduled_end is None:
                raise ValueError("a maintenance needs scheduled_start and scheduled_end")
            if self.scheduled_start.tzinfo is None or self.scheduled_end.tzinfo is None:
                raise ValueError("scheduled times need a time zone (e.g. Z)")
            if self.scheduled_end <= self.scheduled_start:
                raise ValueError("scheduled_end must be after scheduled_start")
        elif self.scheduled_start is not None or self.scheduled_end is not None:
            raise ValueError("only a maintenance has scheduled_start and scheduled_end")
        slugs = [s.service for s in self.services]
        if len(set(slugs)) != len(slugs):
            raise ValueError("a service is listed twice")
        return self


class Decision(_In):
    reason: Reason | None = Field(
        default=None, description="required when approving a held update (an override)"
    )
    publish_redacted: bool = Field(
        default=False, description="publish the redacted text instead of the text as written"
    )


class Rejection(_In):
    reason: Reason


class FindingOut(BaseModel):
    field: str
    kind: str
    start: int
    end: int
    label: str


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    user_id: int | None
    reason: str | None
    details: dict[str, Any]
    created_at: datetime


class UpdateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int
    author_user_id: int | None
    audience: Audience
    body: str
    public_body: str | None
    from_status: str
    to_status: str
    state: UpdateState
    findings: list[FindingOut]
    published_body: str | None
    published_at: datetime | None
    decided_by_user_id: int | None
    decided_at: datetime | None
    decision_reason: str | None
    created_at: datetime
    audit: list[AuditOut] = Field(default_factory=list)


class ImpactOut(BaseModel):
    service: str
    name: str
    impact: Impact


class LinkedTicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticket_id: int
    linked_by_user_id: int | None
    created_at: datetime
    closing_update_id: int | None
    closing_requested_at: datetime | None
    closing_written_at: datetime | None
    closing_attempts: int = 0
    closing_last_error: str | None = None
    closing_skipped_reason: str | None = None


class IncidentOut(BaseModel):
    id: int
    kind: IncidentKind
    title: str
    public_title: str | None
    status: IncidentStatus
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    started_at: datetime | None
    resolved_at: datetime | None
    created_by_user_id: int | None
    created_at: datetime
    services: list[ImpactOut]
    updates: list[UpdateOut]
    tickets: list[LinkedTicketOut]


class TicketLink(_In):
    ticket_id: Id


class FeedTokenOut(BaseModel):
    token: str = Field(description="shown once; stored only as a hash")
    atom_url: str
    rss_url: str


class SubscribeIn(_In):
    email: EmailStr = Field(max_length=320)
    services: list[Slug] = Field(min_length=1, max_length=100)


class WebhookCreate(_In):
    url: Annotated[AnyHttpUrl, BeforeValidator(_webhook_url)] = Field(
        description="where updates are POSTed (http or https), signed with the secret"
    )
    secret: Annotated[str, Field(min_length=16, max_length=200)]
    services: list[Slug] = Field(min_length=1, max_length=100)
    audience: Audience = Field(
        default="public",
        description="the widest content this destination may receive; internal only for "
        "destinations that are staff-only",
    )


class WebhookOut(BaseModel):
    id: int
    url: str
    audience: Audience
    services: list[str]
    created_at: datetime
