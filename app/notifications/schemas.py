from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.kit.ids import Id

DigestMode = Literal["immediate", "hourly", "daily"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_APPRISE_URLS = 10


def _iana(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Paris") from None
    return value


class QuietHours(BaseModel):
    """A nightly window in the person's own time zone, e.g. 22:00-07:00 Europe/Paris."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(examples=["22:00"])
    end: str = Field(examples=["07:00"])
    timezone: str = Field(examples=["Europe/Paris"])

    @field_validator("start", "end")
    @classmethod
    def _wall_clock(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("a time is HH:MM on a 24-hour clock, e.g. 07:30")
        return value

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        return _iana(value)

    @model_validator(mode="after")
    def _a_window(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are equal; send quiet_hours: null for none")
        return self


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL is an http:// or https:// URL with a host")
    return value


class AppriseIn(BaseModel):
    """An Apprise URL (Slack, Teams, ...); give `id` to keep a stored one, `url` to set it."""

    model_config = ConfigDict(extra="forbid")

    id: Id | None = None
    url: str | None = Field(default=None, min_length=3, max_length=2000)
    label: str = Field(default="", max_length=100)
    internal: bool = False
    enabled: bool = True

    @model_validator(mode="after")
    def _url_or_id(self) -> AppriseIn:
        if self.id is None and self.url is None:
            raise ValueError("a new Apprise destination needs a url")
        return self


class WebhookIn(BaseModel):
    """The generic webhook; omit `url`/`secret` to keep the stored ones."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2000)
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    label: str = Field(default="", max_length=100)
    internal: bool = False
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)


class PreferencesUpdate(BaseModel):
    """Omitted fields stay as they are; `quiet_hours: null` and `webhook: null` remove them.

    `apprise`, when given, is the whole list: stored entries not named by id are removed.
    """

    model_config = ConfigDict(extra="forbid")

    email: bool | None = None
    timezone: str | None = Field(
        default=None,
        examples=["Europe/Paris"],
        description="the person's time zone: quiet hours and the times pages show",
    )
    quiet_hours: QuietHours | None = None
    digest: DigestMode | None = None
    apprise: list[AppriseIn] | None = Field(default=None, max_length=MAX_APPRISE_URLS)
    webhook: WebhookIn | None = None

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str | None) -> str | None:
        return None if value is None else _iana(value)

    @model_validator(mode="after")
    def _one_zone(self) -> PreferencesUpdate:
        quiet = self.quiet_hours
        if self.timezone is not None and quiet is not None and quiet.timezone != self.timezone:
            raise ValueError("timezone and quiet_hours.timezone differ; a person has one zone")
        return self


class DestinationOut(BaseModel):
    """A destination as its owner sees it: the URL masked, secrets never returned."""

    id: int
    kind: Literal["webhook", "apprise"]
    label: str
    url: str = Field(description="masked: enough to recognise it, not to use it")
    internal: bool
    enabled: bool
    consecutive_failures: int
    disabled_reason: str | None
    has_secret: bool = False


class PreferencesOut(BaseModel):
    in_app: Literal[True] = Field(default=True, description="the inbox is always on")
    email: bool
    timezone: str = Field(default="UTC", description="quiet hours and page times use it")
    quiet_hours: QuietHours | None
    digest: DigestMode
    apprise: list[DestinationOut]
    webhook: DestinationOut | None


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_type: str
    title: str
    body: str
    url: str | None
    ticket_id: int | None
    created_at: datetime
    read_at: datetime | None


class Inbox(BaseModel):
    unread_count: int
    items: list[NotificationOut]
    next_before: int | None = Field(default=None, description="pass as `before` for more")


class ExplainedDecision(BaseModel):
    event_key: str
    event_type: str
    channel: str
    outcome: str
    rule_id: str | None
    audience: str | None
    reasons: list[dict[str, Any]]


class Explanation(BaseModel):
    notification_id: int
    delivery_id: int | None
    summary: str
    decisions: list[ExplainedDecision]
