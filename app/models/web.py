"""Browser sessions: a cookie holds a random token; only its hash is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.clock import utcnow
from app.models.base import Base, BigId, IdMixin


class WebSession(IdMixin, Base):
    __tablename__ = "web_sessions"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # The identity provider this session signed in through (None: a local password), so
    # signing out can offer the provider's logout too.
    sso_provider: Mapped[str | None] = mapped_column(String(40), default=None)
    # The ID token it signed in with: the `id_token_hint` of the provider's logout, which
    # lets the provider end that session without asking "do you want to log out?".
    sso_id_token: Mapped[str | None] = mapped_column(Text, default=None)
    # Opened from a ticket link in an e-mail: the session reaches this ticket only
    # (app.auth.ticket_links); None: a full session.
    scope_ticket_id: Mapped[int | None] = mapped_column(BigId, default=None)
