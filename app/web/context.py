"""Who is looking at a page, and the template environment."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import sessions
from app.auth.ticket_links import scope_allows
from app.config import Settings
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
    scope = web_session.scope_ticket_id
    if scope is not None and not scope_allows(request.url.path, scope):
        return None  # a link session sees its ticket only: elsewhere it is signed out
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


def safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after sign-in is a phishing tool."""
    # Browsers read "/\\host" like "//host", another site.
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/tickets"
    parts = urlsplit(target)
    return "/tickets" if parts.scheme or parts.netloc else target


def render_login(
    request: Request, *, target: str = "/tickets", status: int = 200, error: str | None = None
) -> HTMLResponse:
    """The sign-in page: the password form (with a fresh CSRF cookie) and the providers."""
    settings = request.app.state.settings
    csrf = new_login_csrf()
    response = render(
        request,
        "login.html",
        None,
        status_code=status,
        csrf=csrf,
        next=target,
        error=error,
        providers=settings.sso_providers,
        saml_providers=settings.saml_providers,
        passwords=bool(settings.password_sign_in),
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict")
    return response


def set_session_cookie(
    response: Response, token: str, settings: Settings, *, max_age: timedelta = sessions.LIFETIME
) -> None:
    response.set_cookie(
        sessions.COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https://"),
        max_age=int(max_age.total_seconds()),
    )


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
