"""Operations on identities. Services never commit; the caller's unit of work does."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.kit.clock import utcnow
from app.kit.errors import Conflict
from app.kit.secrets import hash_password, hash_token, new_api_token, verify_password
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
        password_hash=hash_password(password) if password else None,
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


async def authenticate_token(session: AsyncSession, token: str) -> User | None:
    """The active user owning `token`, or None."""
    found = await repository.get_by_token_hash(session, hash_token(token))
    if found is None or not found[0].is_active:
        return None
    user, api_token = found
    api_token.last_used_at = utcnow()
    return user


async def authenticate_password(session: AsyncSession, email: str, password: str) -> User | None:
    user = await repository.get_by_email(session, email)
    if user is None or not user.is_active or user.password_hash is None:
        return None
    return user if verify_password(password, user.password_hash) else None
