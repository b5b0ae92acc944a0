"""Stored configuration of the metrics: SLA targets and the business calendar."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
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
