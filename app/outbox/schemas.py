from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

DeliveryStatus = Literal["pending", "sent", "skipped", "dead", "superseded", "merged"]


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    idempotency_key: str
    event_key: str
    recipient_key: str
    user_id: int | None
    channel: str
    timing: str
    status: str
    rule_id: str | None
    attempts: int
    last_error: str | None
    deliver_at: datetime
    sent_at: datetime | None
    digest_id: int | None
    created_at: datetime


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    worker: str
    outcome: str
    detail: str | None
    started_at: datetime
    finished_at: datetime


class DeliveryDetail(DeliveryOut):
    attempt_log: list[AttemptOut]
