"""Stored configuration of the metrics: SLA targets and the business calendar."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.clock import utcnow
from app.models.base import Base, BigId, IdMixin


class SlaConfig(IdMixin, Base):
    """One row per saved version; the newest is in force (history kept for audits)."""

    __tablename__ = "sla_configs"

    config: Mapped[dict[str, Any]]
    created_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Survey(IdMixin, Base):
    """A satisfaction survey sent to a requester after a resolution; answerable once."""

    __tablename__ = "csat_surveys"

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    # The resolution it asks about: one survey per resolution, however often it is replayed.
    resolution_key: Mapped[str] = mapped_column(String(200), unique=True)
    rating: Mapped[int | None] = mapped_column(Integer, default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
