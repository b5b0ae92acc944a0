"""`/t/<token>`: the ticket link of an e-mail opens the conversation, signed in for it alone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from app.auth import sessions
from app.auth.ticket_links import PURPOSE, SESSION_LIFETIME, LinkRefused, do_open_link
from app.deps import AppSettings, Session
from app.kit.clock import utcnow
from app.kit.signing import Signer
from app.web.context import render_login, set_session_cookie, viewer

router = APIRouter(include_in_schema=False)
LinkToken = Annotated[str, Path(max_length=1000)]


@router.get("/t/{token}", response_model=None)
async def open_ticket_link(
    request: Request, token: LinkToken, session: Session, settings: AppSettings
) -> Response:
    signer = Signer(settings.require_secret_key(), PURPOSE)
    try:
        user, ticket_id = await do_open_link(session, signer, token, now=utcnow())
    except LinkRefused as exc:
        if exc.code == "link_for_staff":
            return render_login(request, status=403, error="Staff sign in to open tickets.")
        hint = "Open the newest e-mail about your ticket, or sign in."
        return render_login(request, status=410, error=f"{exc.message} {hint}")
    target = f"/tickets/{ticket_id}"
    current = await viewer(request, session)
    if (
        current is not None
        and current.user.id == user.id
        and current.web_session.scope_ticket_id is None
    ):
        return RedirectResponse(target, 303)  # already signed in properly: keep that session
    cookie, _ = await sessions.do_start_session(
        session, user=user, scope_ticket_id=ticket_id, lifetime=SESSION_LIFETIME
    )
    response = RedirectResponse(target, 303)
    set_session_cookie(response, cookie, settings, max_age=SESSION_LIFETIME)
    return response
