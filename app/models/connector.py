"""Configured connector instances, their sync state and what the service wrote to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.clock import utcnow
from app.models.base import Base, BigId, IdMixin


class ConnectorInstance(IdMixin, Base):
    __tablename__ = "connector_instances"

    kind: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    base_url: Mapped[str | None] = mapped_column(String(500), default=None)
    # Fernet-sealed JSON of the secrets; never leaves the service.
    secrets_sealed: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    poll_interval: Mapped[int] = mapped_column(Integer, default=10)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The remote system and project/queue; the same one cannot be configured twice.
    remote_identity: Mapped[str] = mapped_column(String(500), unique=True)

    cursor: Mapped[str | None] = mapped_column(Text, default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_error_at: Mapped[datetime | None] = mapped_column(default=None)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    paused_reason: Mapped[str | None] = mapped_column(Text, default=None)
    changes_ingested: Mapped[int] = mapped_column(Integer, default=0)
    # Items the connector reported as malformed and skipped (never a stalled instance).
    skipped_items: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_skipped: Mapped[str | None] = mapped_column(Text, default=None)
    last_skipped_at: Mapped[datetime | None] = mapped_column(default=None)
    # Lease: the one worker process allowed to poll this instance until it expires.
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConnectorWrite(IdMixin, Base):
    """A comment the service added to a ticket, so it is recognized when it comes back."""

    __tablename__ = "connector_writes"
    __table_args__ = (UniqueConstraint("connector_id", "external_comment_id"),)

    connector_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("connector_instances.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    external_comment_id: Mapped[str] = mapped_column(String(200))
    visibility: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
