from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from connectors.base import NormalizedPriority, NormalizedStatus


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    connector_id: int
    external_id: str
    title: str
    description: str
    status: NormalizedStatus
    raw_status: str
    priority: NormalizedPriority
    raw_priority: str
    service: str | None
    url: str | None
    requester_user_id: int | None
    requester_name: str | None
    assignee_user_id: int | None
    assignee_name: str | None
    opened_at: datetime
    external_updated_at: datetime
    updated_at: datetime


class TimelineEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    visibility: Literal["public", "internal"]
    actor_user_id: int | None
    actor_name: str | None
    body: str | None
    old_value: str | None
    new_value: str | None
    payload: dict[str, Any]
    occurred_at: datetime
