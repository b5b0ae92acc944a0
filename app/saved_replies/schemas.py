"""API shapes of saved replies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models.saved_reply import BODY_MAX_CHARS, TITLE_MAX_CHARS

# No control characters in a title (it is one line in the picker); no NUL in a body
# (PostgreSQL cannot store it in text).
Title = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=TITLE_MAX_CHARS,
        pattern=r"^[^\x00-\x1f\x7f]+$",
    ),
]
ReplyBody = Annotated[
    str, StringConstraints(min_length=1, max_length=BODY_MAX_CHARS, pattern=r"^[^\x00]+$")
]


class Owner(BaseModel):
    id: int
    name: str


class SavedReplyOut(BaseModel):
    id: int
    title: str
    body: str = Field(description="the text as saved, placeholders unexpanded")
    shared: bool
    owner: Owner
    editable: bool = Field(description="whether you may change or delete it")
    created_at: datetime
    updated_at: datetime


class SavedReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    body: ReplyBody
    shared: bool = Field(default=False, description="shared with all staff; otherwise yours alone")


class SavedReplyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: ReplyBody | None = None
    shared: bool | None = None


class RenderedReplyOut(BaseModel):
    id: int
    ticket_id: int
    title: str
    body: str = Field(description="the text with the placeholders filled in for the ticket")
    missing: list[str] = Field(
        description="placeholders this ticket has no value for (left empty in `body`)"
    )
