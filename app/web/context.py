"""Who is looking at a page, and the template environment."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import sessions
from app.models import Role, User
from app.models.web import WebSession
from app.notifications.preferences import display_timezone
from app.web.timefmt import DEFAULT_ZONE, duration, localtime, zone_labels

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["localtime"] = localtime  # every time on a page goes through it
templates.env.filters["duration"] = duration
LOGIN_CSRF_COOKIE = "sd_login_csrf"


@dataclass(frozen=True)
class Viewer:
    user: User
    web_session: WebSession
    timezone: str = DEFAULT_ZONE  # the zone the viewer reads times in

    @property
    def csrf(self) -> str:
        return self.web_session.csrf_token


async def viewer(request: Request, session: AsyncSession) -> Viewer | None:
    cookie = request.cookies.get(sessions.COOKIE)
    if not cookie:
        return None
    found = await sessions.lookup(session, cookie)
    if found is None:
        return None
    user, web_session = found
    return Viewer(user, web_session, await display_timezone(session, user_id=user.id))


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path
    return RedirectResponse(f"/login?next={target}", status_code=303)


def render(
    request: Request, name: str, viewer: Viewer | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {
            "viewer": viewer,
            "user": viewer.user if viewer else None,
            # Times on the page: the viewer's zone; anonymous readers get UTC (and are told).
            "tz": viewer.timezone if viewer else DEFAULT_ZONE,
            "tz_labels": zone_labels(viewer.timezone if viewer else DEFAULT_ZONE),
            **context,
        },
        status_code=status_code,
    )


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


async def staff_viewer(
    request: Request, session: AsyncSession, *, admin: bool = False
) -> Viewer | Response:
    """The signed-in agent (or admin); otherwise the sign-in redirect or a plain 404.

    Pages for staff look missing to everyone else, as the API's least visibility has it.
    """
    current = await viewer(request, session)
    if current is None:
        return to_login(request)
    allowed = current.user.role is Role.ADMIN if admin else current.user.role.is_staff
    if not allowed:
        return render(request, "not_found.html", current, status_code=404)
    return current
