from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

FollowSource = Literal["requester", "manual", "commented"]


class TicketFollowOut(BaseModel):
    ticket_id: int
    following: bool
    source: FollowSource | None = None
    since: datetime | None = None


class ServiceFollowOut(BaseModel):
    service: str
    following: bool
    since: datetime | None = None


class FollowerOut(BaseModel):
    """A follower; end users see the name only (the other fields are left out)."""

    name: str
    user_id: int | None = None
    email: str | None = None
    role: str | None = None
    source: FollowSource | None = None
    since: datetime | None = None


class FollowersPage(BaseModel):
    items: list[FollowerOut]
    total: int
    next_after: int | None = None


class FollowedTicket(BaseModel):
    ticket_id: int
    title: str
    status: str
    source: FollowSource
    since: datetime


class FollowedService(BaseModel):
    service: str
    since: datetime


class MyFollows(BaseModel):
    tickets: list[FollowedTicket]
    services: list[FollowedService]
