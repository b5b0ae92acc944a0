"""ServiceNow's Table API JSON, validated: a record that does not fit is skipped, not trusted.

contracts/servicenow/README.md § 1 (observations): every value is a string (`"4"`,
`"true"`), empty fields are `""`, reference fields are `{"link", "value"}` objects, or plain
strings with `sysparm_exclude_reference_link=true` (which the client sends; both forms are
accepted). § 9: date-times are `YYYY-MM-DD HH:MM:SS`. Their time zone is not confirmed by
the contract; with `sysparm_display_value=false` (the default, which the client keeps)
these are the stored values, read here as UTC.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
SYS_ID_PATTERN = r"^[0-9a-f]{32}$"


def parse_timestamp(value: object) -> object:
    """`2016-01-19 04:52:04` → an aware UTC datetime (other values left to fail)."""
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        return datetime.fromisoformat(value.replace(" ", "T")).replace(tzinfo=UTC)
    return value


def servicenow_timestamp(moment: datetime) -> str:
    """The format ServiceNow returns (§ 9), in UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _reference(value: object) -> object:
    """`{"link": …, "value": "<sys_id>"}` or a plain string → the sys_id (or "")."""
    if isinstance(value, dict):
        return value.get("value", "")
    return value


def _count(value: object) -> object:
    return 0 if value in ("", None) else value


Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
Reference = Annotated[str, BeforeValidator(_reference)]


class Record(BaseModel):
    """One row of the synced table (an incident, by default), the fields the sync reads."""

    model_config = ConfigDict(extra="ignore")

    sys_id: str = Field(pattern=SYS_ID_PATTERN)
    number: str = ""
    short_description: str = ""
    description: str = ""
    state: str = ""
    priority: str = ""
    impact: str = ""
    urgency: str = ""
    active: str = ""
    category: str = ""
    caller_id: Reference = ""
    opened_by: Reference = ""
    assigned_to: Reference = ""
    assignment_group: Reference = ""
    sys_created_on: Timestamp
    sys_updated_on: Timestamp
    sys_created_by: str = ""
    sys_updated_by: str = ""
    sys_mod_count: Annotated[int, BeforeValidator(_count)] = 0

    @property
    def external_id(self) -> str:
        """The ticket's id in Socialdesk: its number (`INC0010001`), else its sys_id."""
        return self.number or self.sys_id


# What the listing asks for (`sysparm_fields`), so a wide table does not travel whole.
RECORD_FIELDS = ",".join(Record.model_fields)


class JournalEntry(BaseModel):
    """A `sys_journal_field` row (§ 2): `comments` are public, `work_notes` internal."""

    model_config = ConfigDict(extra="ignore")

    sys_id: str = Field(pattern=SYS_ID_PATTERN)
    element: Literal["comments", "work_notes"]
    element_id: str
    name: str = ""
    sys_created_by: str = ""
    sys_created_on: Timestamp
    value: str = ""


JOURNAL_FIELDS = "sys_id,element,element_id,name,sys_created_by,sys_created_on,value"


class User(BaseModel):
    """A `sys_user` row: journal entries name users by `user_name`, records by sys_id."""

    model_config = ConfigDict(extra="ignore")

    sys_id: str
    user_name: str = ""
    name: str = ""
    email: str = ""


USER_FIELDS = "sys_id,user_name,name,email"


class Group(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sys_id: str = Field(pattern=SYS_ID_PATTERN)
    name: str = ""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Tracked:
    """The fields whose changes the sync reports; the title is kept as a digest."""

    state: str
    priority: str
    impact: str
    urgency: str
    active: str
    assigned_to: str
    assignment_group: str
    caller_id: str
    title: str

    @classmethod
    def of(cls, record: Record) -> Tracked:
        return cls(
            state=record.state,
            priority=record.priority,
            impact=record.impact,
            urgency=record.urgency,
            active=record.active,
            assigned_to=record.assigned_to,
            assignment_group=record.assignment_group,
            caller_id=record.caller_id,
            title=_digest(record.short_description),
        )

    def as_list(self) -> list[str]:
        return [
            self.state,
            self.priority,
            self.impact,
            self.urgency,
            self.active,
            self.assigned_to,
            self.assignment_group,
            self.caller_id,
            self.title,
        ]

    @classmethod
    def from_list(cls, values: list[str]) -> Tracked:
        return cls(*(str(v) for v in values))
