"""Operations on identities. Services never commit; the caller's unit of work does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.kit.clock import utcnow
from app.kit.errors import Conflict, NotFound
from app.kit.secrets import (
    hash_password_off_loop,
    hash_token,
    new_api_token,
    verify_password_off_loop,
)
from app.models import ApiToken, Role, User


async def do_create_user(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    role: Role,
    password: str | None = None,
    token: str | None = None,
) -> tuple[User, str]:
    """Create a user with one API token; returns the token in clear, once."""
    email = email.strip().lower()
    if await repository.get_by_email(session, email) is not None:
        raise Conflict(f"a user with e-mail {email} already exists", code="user_exists")
    user = User(
        email=email,
        name=name.strip(),
        role=role,
        password_hash=await hash_password_off_loop(password) if password else None,
    )
    session.add(user)
    await session.flush()
    token = await do_issue_token(session, user=user, token=token)
    return user, token


async def do_issue_token(
    session: AsyncSession, *, user: User, token: str | None = None, name: str = "default"
) -> str:
    token = token or new_api_token()
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), name=name))
    await session.flush()
    return token


MAX_ACTIVE_TOKENS = 20  # per person: enough for every script, not a token per request


async def do_create_personal_token(
    session: AsyncSession, *, user: User, name: str, expires_in_days: int | None
) -> tuple[ApiToken, str]:
    """A named token for the person's scripts; the secret is returned once, stored hashed."""
    now = utcnow()
    active = [
        t
        for t in await repository.tokens_of(session, user.id)
        if t.revoked_at is None and (t.expires_at is None or t.expires_at > now)
    ]
    if len(active) >= MAX_ACTIVE_TOKENS:
        raise Conflict(
            f"you have {MAX_ACTIVE_TOKENS} active tokens; revoke one first", code="too_many_tokens"
        )
    secret = new_api_token()
    row = ApiToken(
        user_id=user.id,
        token_hash=hash_token(secret),
        name=name.strip(),
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(row)
    await session.flush()
    return row, secret


async def do_revoke_token(session: AsyncSession, *, user: User, token_id: int) -> ApiToken:
    """Revoke one of the person's own tokens (someone else's is not found)."""
    row = await session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound("no such token", code="token_not_found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


async def authenticate_token(session: AsyncSession, token: str) -> User | None:
    """The active user owning `token`, or None."""
    found = await repository.get_by_token_hash(session, hash_token(token))
    if found is None or not found[0].is_active:
        return None
    user, api_token = found
    api_token.last_used_at = utcnow()
    return user


async def authenticate_password(session: AsyncSession, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None.

    An unknown e-mail, an inactive account and one without a password cost the same hashing
    work as a wrong password, so the answer's timing does not tell which accounts exist.
    A hash of an older scheme or weaker parameters is replaced on a successful sign-in.
    """
    user = await repository.get_by_email(session, email.strip().lower())
    stored = user.password_hash if user is not None and user.is_active else None
    check = await verify_password_off_loop(password, stored)
    if not check.ok or user is None:
        return None
    if check.needs_rehash:
        user.password_hash = await hash_password_off_loop(password)
    return user
