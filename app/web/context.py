"""Who is looking at a page, and the template environment."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import sessions
from app.models import User
from app.models.web import WebSession

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
LOGIN_CSRF_COOKIE = "sd_login_csrf"


@dataclass(frozen=True)
class Viewer:
    user: User
    web_session: WebSession

    @property
    def csrf(self) -> str:
        return self.web_session.csrf_token


async def viewer(request: Request, session: AsyncSession) -> Viewer | None:
    cookie = request.cookies.get(sessions.COOKIE)
    if not cookie:
        return None
    found = await sessions.lookup(session, cookie)
    return None if found is None else Viewer(*found)


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path
    return RedirectResponse(f"/login?next={target}", status_code=303)


def render(
    request: Request, name: str, viewer: Viewer | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"viewer": viewer, "user": viewer.user if viewer else None, **context},
        status_code=status_code,
    )


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)
