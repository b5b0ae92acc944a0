"""`GET, POST /unsubscribe/{token}`: stop notification e-mails without signing in.

The token in the link is signed, purpose-bound and expiring (`app.kit.signing`). GET only
shows a confirmation page (mail scanners open links; they must not unsubscribe anyone);
POST unsubscribes, from that page or as the RFC 8058 one-click request a mail client sends
with `List-Unsubscribe=One-Click`.
"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from app.config import Settings
from app.deps import Session
from app.kit.clock import utcnow
from app.kit.signing import BadToken, Signer
from app.models import User
from app.notifications.compose import UNSUBSCRIBE_PURPOSE
from app.notifications.preferences import do_disable_email

router = APIRouter(tags=["notifications"])

_PAGE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html><head><meta charset="utf-8"><title>Socialdesk e-mail notifications</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">
<h1 style="font-size: 1.3em">{{ heading }}</h1>
<p>{{ text }}</p>
{% if action %}<form method="post" action="{{ action }}">
<button type="submit">Stop notification e-mails</button></form>{% endif %}
</body></html>
"""
)


def _page(status: int, heading: str, text: str, action: str | None = None) -> HTMLResponse:
    html = _PAGE.render(heading=heading, text=text, action=action)
    return HTMLResponse(html, status_code=status)


async def _user_of(request: Request, session: Session, token: str) -> User | None:
    settings = cast(Settings, request.app.state.settings)
    signer = Signer(settings.require_secret_key(), UNSUBSCRIBE_PURPOSE)
    try:
        claims = signer.verify(token, now=utcnow())
    except BadToken:
        return None
    user_id = claims.get("u")
    if claims.get("c") != "email" or not isinstance(user_id, int):
        return None
    return await session.get(User, user_id)


def _invalid() -> HTMLResponse:
    text = "This link is not valid or has expired. Change e-mail notifications in your settings."
    return _page(400, "Link not valid", text)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def confirm_unsubscribe(token: str, request: Request, session: Session) -> HTMLResponse:
    user = await _user_of(request, session, token)
    if user is None:
        return _invalid()
    text = f"Stop Socialdesk notification e-mails to {user.email}? In-app notifications stay."
    return _page(200, "Stop notification e-mails", text, action=f"/unsubscribe/{token}")


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request, session: Session) -> HTMLResponse:
    user = await _user_of(request, session, token)
    if user is None:
        return _invalid()
    await do_disable_email(session, user_id=user.id)
    text = f"{user.email} gets no more notification e-mails. Turn them back on in your settings."
    return _page(200, "You are unsubscribed", text)
