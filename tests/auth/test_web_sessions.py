"""Web sessions: a sign-in clears the user's expired sessions, never live ones."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.sessions import do_start_session, lookup
from app.kit.clock import utcnow
from app.models import WebSession
from tests.factories import create_user


async def _tokens(session: AsyncSession, user_id: int) -> set[str]:
    rows = await session.scalars(select(WebSession.token_hash).where(WebSession.user_id == user_id))
    return set(rows)


async def test_signing_in_removes_only_this_users_expired_sessions(session: AsyncSession) -> None:
    me, _ = await create_user(session)
    other, _ = await create_user(session)
    old_token, old = await do_start_session(session, user=me)
    live_token, live = await do_start_session(session, user=me)
    _, others_old = await do_start_session(session, user=other)
    await session.execute(
        update(WebSession)
        .where(WebSession.id.in_([old.id, others_old.id]))
        .values(expires_at=utcnow() - timedelta(minutes=1))
    )
    assert await lookup(session, old_token) is None  # expired sessions already do nothing

    new_token, new = await do_start_session(session, user=me)

    assert await _tokens(session, me.id) == {live.token_hash, new.token_hash}
    assert await _tokens(session, other.id) == {others_old.token_hash}  # theirs, untouched
    for token in (live_token, new_token):
        found = await lookup(session, token)
        assert found is not None
        assert found[0].id == me.id
