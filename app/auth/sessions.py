"""Web sessions for the browser UI: sign in with a password, a cookie, CSRF tokens."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.secrets import hash_token
from app.models import User
from app.models.web import WebSession

COOKIE = "sd_session"
CSRF_HEADER = "X-CSRF-Token"
LIFETIME = timedelta(days=7)


async def do_start_session(
    session: AsyncSession,
    *,
    user: User,
    sso_provider: str | None = None,
    sso_id_token: str | None = None,
    scope_ticket_id: int | None = None,
    lifetime: timedelta = LIFETIME,
) -> tuple[str, WebSession]:
    """A new session; returns the cookie value (shown once) and the row.

    The user's expired sessions go at the same time: nothing else removes them (a browser
    that is closed never logs out), and one indexed DELETE per sign-in keeps the table to
    about the sessions people still have.
    """
    now = utcnow()
    await session.execute(
        delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at <= now)
    )
    token = secrets.token_urlsafe(32)
    row = WebSession(
        user_id=user.id,
        token_hash=hash_token(token),
        csrf_token=secrets.token_urlsafe(24),
        expires_at=now + lifetime,
        sso_provider=sso_provider,
        sso_id_token=sso_id_token,
        scope_ticket_id=scope_ticket_id,
    )
    session.add(row)
    await session.flush()
    return token, row


async def lookup(session: AsyncSession, token: str) -> tuple[User, WebSession] | None:
    """The active user behind a session cookie, if the session is alive."""
    row = (
        await session.execute(
            select(User, WebSession)
            .join(WebSession, WebSession.user_id == User.id)
            .where(WebSession.token_hash == hash_token(token), WebSession.expires_at > utcnow())
        )
    ).first()
    if row is None or not row[0].is_active:
        return None
    return row[0], row[1]


async def do_end_session(session: AsyncSession, *, token: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))
