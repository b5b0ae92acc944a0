"""Notification preferences and destinations, the delivery outbox, and the in-app inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.clock import utcnow
from app.models.base import Base, BigId, IdMixin

_PENDING = text("status = 'pending'")
_UNREAD = text("read_at IS NULL")
# Rows not delivered yet: pending, or dead letters an admin may still retry.
_IN_FLIGHT = text("status IN ('pending', 'dead')")


class NotificationPreference(Base):
    """One person's delivery preferences; a missing row means the defaults."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Local wall-clock "HH:MM" in `timezone`; both set or both empty.
    quiet_start: Mapped[str | None] = mapped_column(String(5), default=None)
    quiet_end: Mapped[str | None] = mapped_column(String(5), default=None)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    digest: Mapped[str] = mapped_column(String(10), default="immediate")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NotificationDestination(IdMixin, Base):
    """A webhook or an Apprise URL a person receives notifications on.

    URL and signing secret are sealed (SecretBox); only `url_masked` ever leaves the
    service. `internal` may be set by staff only and makes it a staff-only destination.
    """

    __tablename__ = "notification_destinations"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # webhook | apprise
    label: Mapped[str] = mapped_column(String(100), default="")
    secrets_sealed: Mapped[str] = mapped_column(Text)
    url_masked: Mapped[str] = mapped_column(String(300))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    last_failure_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Delivery(IdMixin, Base):
    """One outbox row: a decided notification for one recipient on one channel.

    Written in the transaction of the event it reacts to; `idempotency_key` (event x
    recipient x channel) makes a replay a no-op. Status: pending -> sent | skipped | dead,
    or superseded (a newer delayed update replaced it) / merged (carried by a digest row).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index(
            "ix_deliveries_due",
            "deliver_at",
            "id",
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
        Index(
            "ix_deliveries_pending_collapse_key",
            "collapse_key",
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
        Index("ix_deliveries_status_id", "status", "id"),
        # Which events still have undelivered rows (the decision retention pass asks).
        Index(
            "ix_deliveries_in_flight_event_key",
            "event_key",
            sqlite_where=_IN_FLIGHT,
            postgresql_where=_IN_FLIGHT,
        ),
    )

    idempotency_key: Mapped[str] = mapped_column(String(500), unique=True)
    event_key: Mapped[str] = mapped_column(String(200))
    recipient_key: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    destination_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("notification_destinations.id", ondelete="SET NULL"), default=None
    )
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), default=None
    )
    timing: Mapped[str] = mapped_column(String(10))  # send | delay | digest
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # Delayed updates of one ticket x kind x recipient x channel collapse into one row.
    collapse_key: Mapped[str | None] = mapped_column(String(500), default=None)
    # {"parts": [...]}: the content (already the right body variant) and each decision.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rule_id: Mapped[str | None] = mapped_column(String(100), default=None)
    deliver_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    digest_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("deliveries.id", ondelete="SET NULL"), index=True, default=None
    )
    superseded_by: Mapped[int | None] = mapped_column(BigId, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DeliveryAttempt(IdMixin, Base):
    """One try at handing a delivery to its channel, and how it ended."""

    __tablename__ = "delivery_attempts"

    delivery_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))  # sent | failed | refused | skipped
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboxItem(IdMixin, Base):
    """A notification in a person's in-app inbox (already redacted for them)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_unread", "user_id", sqlite_where=_UNREAD, postgresql_where=_UNREAD),
    )

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(500), unique=True)
    delivery_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("deliveries.id", ondelete="SET NULL"), default=None
    )
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), default=None
    )
    event_type: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(1000), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
