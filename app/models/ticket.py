"""The mirror of tickets and their timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.clock import utcnow
from app.models.base import Base, BigId, IdMixin


class Ticket(IdMixin, Base):
    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("connector_id", "external_id"),)

    connector_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("connector_instances.id", ondelete="CASCADE")
    )
    external_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), index=True)
    raw_status: Mapped[str] = mapped_column(String(100))
    priority: Mapped[str] = mapped_column(String(2))
    raw_priority: Mapped[str] = mapped_column(String(100))
    service: Mapped[str | None] = mapped_column(String(100), default=None)
    url: Mapped[str | None] = mapped_column(String(1000), default=None)
    # End users may follow a ticket they did not request only when it is marked followable
    # (e.g. a major incident).
    followable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    requester_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    requester_name: Mapped[str | None] = mapped_column(String(200), default=None)
    requester_email: Mapped[str | None] = mapped_column(String(320), default=None)
    assignee_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    assignee_name: Mapped[str | None] = mapped_column(String(200), default=None)
    assignee_email: Mapped[str | None] = mapped_column(String(320), default=None)

    opened_at: Mapped[datetime]
    external_updated_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TicketEvent(IdMixin, Base):
    """One entry of a ticket's timeline, stored once per source id."""

    __tablename__ = "ticket_events"
    __table_args__ = (
        UniqueConstraint("connector_id", "source_id"),
        Index("ix_ticket_events_ticket_id_id", "ticket_id", "id"),
    )

    connector_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("connector_instances.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(50))
    visibility: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    actor_name: Mapped[str | None] = mapped_column(String(200), default=None)
    actor_email: Mapped[str | None] = mapped_column(String(320), default=None)
    body: Mapped[str | None] = mapped_column(Text, default=None)
    old_value: Mapped[str | None] = mapped_column(String(200), default=None)
    new_value: Mapped[str | None] = mapped_column(String(200), default=None)
    external_comment_id: Mapped[str | None] = mapped_column(String(200), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
