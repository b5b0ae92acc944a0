"""Redmine's JSON, validated: a record that does not fit is skipped, not trusted."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Ref(BaseModel):
    """A reference to a user, project, tracker, category, etc. (`{"id": 5, "name": "..."}`)."""

    id: int
    name: str = ""


class StatusRef(Ref):
    is_closed: bool = False


class Detail(BaseModel):
    """One field change inside a journal; Redmine sends values as strings (ids too)."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    property: str
    name: str
    old_value: str | None = None
    new_value: str | None = None


class Journal(BaseModel):
    """One update of an issue: field changes and/or a note (`notes` "" or null: no note)."""

    id: int
    user: Ref | None = None
    notes: str | None = None
    private_notes: bool = False
    created_on: AwareDatetime
    details: list[Detail] = Field(default_factory=list)


class Issue(BaseModel):
    """An issue as `GET /issues/<id>.json`; journals stay raw so one bad one can be skipped."""

    id: int
    project: Ref
    tracker: Ref | None = None
    status: StatusRef
    priority: Ref
    author: Ref | None = None
    assigned_to: Ref | None = None
    category: Ref | None = None
    subject: str
    description: str | None = None
    created_on: AwareDatetime
    updated_on: AwareDatetime
    journals: list[dict[str, object]] = Field(default_factory=list)


class ListedIssue(BaseModel):
    """The two fields the poll needs from `GET /issues.json`."""

    id: int
    updated_on: AwareDatetime


class User(BaseModel):
    """`GET /users/<id>.json`; `mail` is only there for admin keys."""

    id: int
    login: str | None = None
    firstname: str = ""
    lastname: str = ""
    mail: str | None = None
    admin: bool = False

    @property
    def display_name(self) -> str | None:
        return " ".join(p for p in (self.firstname, self.lastname) if p) or self.login


class Membership(BaseModel):
    project: Ref
    roles: list[Ref] = Field(default_factory=list)


class CurrentUser(User):
    memberships: list[Membership] = Field(default_factory=list)


class Project(BaseModel):
    id: int
    name: str
    identifier: str


def redmine_timestamp(moment: datetime) -> str:
    """Redmine's filter format: whole seconds, UTC, `Z` (fractions or offsets give 422)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
