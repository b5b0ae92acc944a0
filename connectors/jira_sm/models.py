"""Jira's JSON, validated: an issue, history or comment that does not fit is skipped.

contracts/jira-sm/README.md § 9: platform timestamps are ISO 8601 with milliseconds and an
offset without a colon (`2021-01-17T12:34:00.000+0000`); the servicedeskapi gives dates as
`DateDTO` objects (`{iso8601, jira, friendly, epochMillis}`). Everything is read into aware
UTC datetimes. Issue descriptions are Atlassian Document Format in v3 (§ 2a; the § 1a
example shows a plain string): both are read as text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_timestamp(value: object) -> object:
    """`2021-01-17T12:34:00.000+0000` (or a DateDTO) → an aware UTC datetime."""
    if isinstance(value, dict):
        millis = value.get("epochMillis")
        if isinstance(millis, int) and not isinstance(millis, bool):
            return datetime.fromtimestamp(millis / 1000, UTC)
        value = value.get("iso8601")
    if isinstance(value, str):
        text = _OFFSET.sub(r"\1:\2", value.strip()).replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return moment.astimezone(UTC)
    return value


def iso(moment: datetime) -> str:
    """A UTC timestamp with milliseconds, as kept in the cursor (sorts as text)."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def adf_text(value: object) -> str:
    """Plain text of an ADF document (paragraphs on their own lines), or the string itself."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return ""
    if value.get("type") == "text":
        return str(value.get("text", ""))
    if value.get("type") == "hardBreak":
        return "\n"
    parts = [adf_text(child) for child in value.get("content") or []]
    joiner = "\n" if value.get("type") in ("doc", "bulletList", "orderedList") else ""
    return joiner.join(parts)


Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
Text = Annotated[str, BeforeValidator(adf_text)]


class User(BaseModel):
    """A Jira user (§ 1a, § 4a; UserDTO in § 2b): the e-mail is absent when hidden."""

    model_config = ConfigDict(extra="ignore")

    accountId: str = Field(min_length=1)
    displayName: str = ""
    emailAddress: str = ""
    timeZone: str = ""


class StatusCategory(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = ""
    name: str = ""


class Status(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = ""
    name: str = ""
    statusCategory: StatusCategory = StatusCategory()


class Priority(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = ""
    name: str = ""


class Project(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = ""


class Fields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    summary: str = ""
    description: Text = ""
    status: Status = Status()
    priority: Priority | None = None
    assignee: User | None = None
    reporter: User | None = None
    project: Project = Project()
    created: Timestamp
    updated: Timestamp


class Issue(BaseModel):
    """One issue of the search (§ 1a), the fields the sync reads."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=r"^[0-9]{1,18}$")
    key: str = Field(pattern=r"^[A-Z][A-Z0-9_]*-[0-9]+$")
    fields: Fields


ISSUE_FIELDS = "summary,description,status,priority,assignee,reporter,project,created,updated"


class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    field: str = ""
    fieldId: str = ""
    from_: str | None = Field(default=None, alias="from")
    fromString: str | None = None
    to: str | None = None
    toString: str | None = None


class History(BaseModel):
    """One changelog entry (§ 1c): who changed which fields when."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    author: User | None = None
    created: Timestamp
    items: list[HistoryItem] = Field(default_factory=list)


class RequestComment(BaseModel):
    """A servicedeskapi CommentDTO (§ 2b): `public` false is an internal comment."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    body: str = ""
    public: bool
    author: User | None = None
    created: Timestamp


def first_error(exc: Any) -> str:
    """The first problem of a pydantic ValidationError, one line."""
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or 'item'}: {error['msg']}"
