from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.kit.clock import utcnow
from app.models import ConnectorInstance


class ConnectorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1, max_length=200)
    url: str | None = Field(default=None, max_length=500)
    secrets: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, str] = Field(default_factory=dict)
    poll_interval: int = Field(default=10, ge=1, le=86_400)


class ConnectorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None
    poll_interval: int | None = Field(default=None, ge=1, le=86_400)
    secrets: dict[str, str] | None = None
    settings: dict[str, str] | None = None


class ConnectorHealth(BaseModel):
    state: Literal["ok", "never_synced", "failing", "paused", "disabled"] = Field(
        description="ok: the last attempt worked; failing: retrying with backoff; "
        "paused: waiting for an admin (credentials or settings refused)"
    )
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    lag_seconds: float | None = Field(description="seconds since the last successful sync")
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    next_attempt_at: datetime | None
    paused_reason: str | None
    changes_ingested: int
    tickets: int
    skipped_items: int = Field(description="malformed items the connector recorded and skipped")
    last_skipped: list[str] = Field(description="the latest skipped items, one line each")
    last_skipped_at: datetime | None


class ConnectorOut(BaseModel):
    """An instance as admins see it. Secrets are never included: only their names."""

    id: int
    kind: str
    name: str
    url: str | None
    secret_names: list[str]
    settings: dict[str, Any]
    poll_interval: int
    enabled: bool
    remote_identity: str
    health: ConnectorHealth
    created_at: datetime

    @classmethod
    def build(
        cls, instance: ConnectorInstance, secret_names: list[str], tickets: int
    ) -> ConnectorOut:
        lag = None
        if instance.last_success_at is not None:
            lag = (utcnow() - instance.last_success_at).total_seconds()
        return cls(
            id=instance.id,
            kind=instance.kind,
            name=instance.name,
            url=instance.base_url,
            secret_names=sorted(secret_names),
            settings=instance.settings,
            poll_interval=instance.poll_interval,
            enabled=instance.enabled,
            remote_identity=instance.remote_identity,
            created_at=instance.created_at,
            health=ConnectorHealth(
                state=_state(instance),
                last_attempt_at=instance.last_attempt_at,
                last_success_at=instance.last_success_at,
                lag_seconds=lag,
                last_error=instance.last_error,
                last_error_at=instance.last_error_at,
                consecutive_failures=instance.consecutive_failures,
                next_attempt_at=instance.next_attempt_at,
                paused_reason=instance.paused_reason,
                changes_ingested=instance.changes_ingested,
                tickets=tickets,
                skipped_items=instance.skipped_items,
                last_skipped=(instance.last_skipped or "").splitlines(),
                last_skipped_at=instance.last_skipped_at,
            ),
        )


def _state(
    instance: ConnectorInstance,
) -> Literal["ok", "never_synced", "failing", "paused", "disabled"]:
    if not instance.enabled:
        return "disabled"
    if instance.paused_reason is not None:
        return "paused"
    if instance.consecutive_failures:
        return "failing"
    return "ok" if instance.last_success_at is not None else "never_synced"


class CheckResult(BaseModel):
    ok: bool
    reachable: bool
    authenticated: bool
    permissions_ok: bool
    detail: str


class SyncResult(BaseModel):
    pages: int
    tickets_created: int
    tickets_updated: int
    events_ingested: int
    duplicates: int
    own_writes: int
    skipped: list[str]
    has_more: bool
    error: str | None
