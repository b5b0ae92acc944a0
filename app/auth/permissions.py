"""Who is calling, and what they may do: dependencies for endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.service import authenticate_token
from app.deps import Session
from app.kit.errors import Forbidden, NotAuthenticated
from app.models import Role, User

_bearer = HTTPBearer(auto_error=False)


async def get_current_user(
    session: Session,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("missing bearer token")
    user = await authenticate_token(session, credentials.credentials)
    if user is None:
        raise NotAuthenticated("invalid or revoked token")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def require_admin(user: CurrentUser) -> User:
    if user.role is not Role.ADMIN:
        raise Forbidden("this action needs the admin role")
    return user


async def require_staff(user: CurrentUser) -> User:
    if not user.role.is_staff:
        raise Forbidden("this action needs the agent or admin role")
    return user


Admin = Annotated[User, Depends(require_admin)]
Staff = Annotated[User, Depends(require_staff)]
