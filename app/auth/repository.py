"""Queries on users and API tokens."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.models import ApiToken, User


async def get_by_token_hash(session: AsyncSession, token_hash: str) -> tuple[User, ApiToken] | None:
    row = (
        await session.execute(
            select(User, ApiToken)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(
                ApiToken.token_hash == token_hash,
                ApiToken.revoked_at.is_(None),
                or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()),
            )
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    stmt = select(User).where(func.lower(User.email) == email.strip().lower())
    return (await session.execute(stmt)).scalar_one_or_none()


async def users_by_emails(session: AsyncSession, emails: set[str]) -> dict[str, User]:
    """Active users keyed by lower-cased e-mail, for matching ticketing-system people."""
    if not emails:
        return {}
    lowered = {e.lower() for e in emails}
    stmt = select(User).where(func.lower(User.email).in_(lowered), User.is_active.is_(True))
    return {u.email.lower(): u for u in (await session.execute(stmt)).scalars()}


async def tokens_of(session: AsyncSession, user_id: int) -> list[ApiToken]:
    """A person's tokens, newest first (revoked and expired ones too: their history)."""
    stmt = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
    return list((await session.execute(stmt)).scalars())
