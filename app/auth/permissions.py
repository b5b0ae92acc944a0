"""Who is calling, and what they may do: dependencies for endpoints."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import sessions
from app.auth.service import authenticate_token
from app.auth.ticket_links import scope_allows
from app.deps import Session
from app.kit.errors import Forbidden, NotAuthenticated
from app.models import Role, User

_bearer = HTTPBearer(auto_error=False)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_current_user(
    request: Request,
    session: Session,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """A bearer token (API clients) or the web session cookie (the browser UI)."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        user = await authenticate_token(session, credentials.credentials)
        if user is None:
            raise NotAuthenticated("invalid or revoked token")
        return user
    cookie = request.cookies.get(sessions.COOKIE)
    if cookie:
        found = await sessions.lookup(session, cookie)
        if found is not None:
            user, web_session = found
            scope = web_session.scope_ticket_id
            if scope is not None and not scope_allows(request.url.path, scope):
                raise Forbidden(
                    f"this session was opened from a link to ticket {scope} and reaches only "
                    "that ticket; sign in to see more",
                    code="link_scope",
                )
            request.state.ticket_scope = scope
            # A cookie rides along on cross-site requests: changes need the CSRF token.
            sent = request.headers.get(sessions.CSRF_HEADER, "")
            if request.method not in SAFE_METHODS and not hmac.compare_digest(
                sent, web_session.csrf_token
            ):
                raise Forbidden("missing or wrong CSRF token", code="csrf_failed")
            return user
    raise NotAuthenticated("missing bearer token or session")


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
