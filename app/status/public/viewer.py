"""Who is looking at the status page or a feed, reduced to the audience they may read.

- nobody signed in: `public`;
- `Authorization: Bearer <API token>` or the web UI's session cookie: `employees` (staff
  too: the page is a communication surface; drafts and internal updates live in the API);
- a feed URL's `?token=<feed token>`: `employees` (feed readers cannot send headers).

A signed-in reader also brings the time zone of their preferences: the page shows times
in it (feeds carry machine-readable times only).

A credential that is given but wrong is a 401, not a silent downgrade to the public view:
a script or feed reader then learns its token is dead. An expired browser cookie, though,
just shows the public page (the person is simply signed out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import sessions
from app.auth.service import authenticate_token
from app.db import unit_of_work
from app.followers import repository as followers_repository
from app.kit.errors import NotAuthenticated
from app.kit.secrets import hash_token
from app.models import User
from app.notifications.preferences import display_timezone
from app.status import repository
from app.status.lifecycle import ViewerAudience


@dataclass(frozen=True, slots=True)
class Viewer:
    user: User | None
    # The zone a signed-in reader reads times in (their preferences); UTC for the public.
    timezone: str = "UTC"
    # A browser session's CSRF token: its reader gets Follow / Unfollow buttons (a script
    # with a bearer token follows through the API instead).
    csrf: str | None = None
    # The services this reader follows (read only for a browser session).
    follows: frozenset[str] = frozenset()

    @property
    def audience(self) -> ViewerAudience:
        return "public" if self.user is None else "employees"


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return cast(async_sessionmaker[AsyncSession], request.app.state.sessionmaker)


async def get_viewer(request: Request) -> Viewer:
    """The page's reader: bearer token, else session cookie, else the public.

    No session is opened for an anonymous reader: the page's hot path stays off the database.
    """
    header = request.headers.get("authorization")
    cookie = request.cookies.get(sessions.COOKIE)
    if not header and not cookie:
        return Viewer(None)
    # A unit of work: authenticating records when the token was last used.
    async with unit_of_work(_sessions(request)) as session:
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthenticated("unsupported authorization; use a bearer token")
            user = await authenticate_token(session, token.strip())
            if user is None:
                raise NotAuthenticated("invalid or revoked token")
            return Viewer(user, await display_timezone(session, user_id=user.id))
        found = await sessions.lookup(session, cookie or "")
        if found is None:
            return Viewer(None)
        user, web_session = found
        follows = await followers_repository.followed_services(session, user.id)
        return Viewer(
            user,
            await display_timezone(session, user_id=user.id),
            csrf=web_session.csrf_token,
            follows=frozenset(follow.service_slug for follow in follows),
        )


async def get_feed_viewer(
    request: Request,
    token: Annotated[str | None, Query(max_length=200, description="personal feed token")] = None,
) -> Viewer:
    """A feed's reader: the personal feed token when given, else as for the page."""
    if token is None:
        return await get_viewer(request)
    async with _sessions(request)() as session:
        user_id = await repository.feed_token_user_id(session, hash_token(token))
        user = await session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active:
        raise NotAuthenticated("invalid or revoked feed token")
    return Viewer(user)


StatusViewer = Annotated[Viewer, Depends(get_viewer)]
FeedViewer = Annotated[Viewer, Depends(get_feed_viewer)]
