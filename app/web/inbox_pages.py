"""Pages every signed-in person has: the inbox, "why did I get this", preferences, follows."""

from __future__ import annotations

import hmac
import re
from typing import cast

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.deps import Session
from app.followers import service as following
from app.kit.errors import AppError
from app.kit.ids import Id
from app.kit.secrets import SecretBox
from app.notifications import inbox, preferences
from app.notifications.schemas import PreferencesUpdate
from app.status.service import visible_service_names
from app.web.context import Viewer, render, to_login, viewer

router = APIRouter(include_in_schema=False)


async def _signed_in(request: Request, session: Session) -> Viewer | Response:
    current = await viewer(request, session)
    return to_login(request) if current is None else current


@router.get("/inbox", response_model=None)
async def inbox_page(request: Request, session: Session, before: Id | None = None) -> Response:
    current = await _signed_in(request, session)
    if not isinstance(current, Viewer):
        return current
    page = await inbox.inbox_for(
        session, user=current.user, before=before, limit=50, unread_only=False
    )
    return render(request, "inbox.html", current, page=page)


@router.post("/inbox/read", response_model=None)
async def mark_all_read(request: Request, session: Session) -> Response:
    current = await _signed_in(request, session)
    if not isinstance(current, Viewer):
        return current
    form = await request.form()
    if hmac.compare_digest(str(form.get("csrf", "")), current.csrf):
        await inbox.do_mark_all_read(session, user=current.user)
    return RedirectResponse("/inbox", 303)


@router.get("/inbox/{item_id}/why", response_model=None)
async def why(request: Request, item_id: Id, session: Session) -> Response:
    current = await _signed_in(request, session)
    if not isinstance(current, Viewer):
        return current
    try:
        explanation = await inbox.explain(session, user=current.user, item_id=item_id)
    except AppError:
        return render(request, "not_found.html", current, status_code=404)
    return render(request, "why.html", current, explanation=explanation)


async def _preferences(
    request: Request,
    session: Session,
    current: Viewer,
    *,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    """The preferences page, with what the person follows (and can stop following)."""
    prefs = await preferences.get_preferences(session, user=current.user)
    tickets, services = await following.my_follows(session, user=current.user)
    scope = current.web_session.scope_ticket_id
    if scope is not None:  # opened from a ticket link: other tickets' titles stay hidden
        tickets = [t for t in tickets if t.ticket_id == scope]
    names = await visible_service_names(
        session, slugs=[s.service for s in services], user=current.user
    )
    return render(
        request,
        "preferences.html",
        current,
        prefs=prefs,
        followed_tickets=tickets,
        followed_services=[(s.service, names.get(s.service, s.service)) for s in services],
        error=error,
        notice=notice,
        status_code=422 if error else 200,
    )


@router.get("/preferences", response_model=None)
async def preferences_page(request: Request, session: Session) -> Response:
    current = await _signed_in(request, session)
    if not isinstance(current, Viewer):
        return current
    return await _preferences(request, session, current)


# Where a Follow button may send its reader back to: our own pages, never another site.
_BACK = re.compile(r"^/(status|preferences)(#service-[a-z0-9_-]+)?$")


@router.post("/follows/services/{slug}", response_model=None)
async def follow_service(request: Request, slug: str, session: Session) -> Response:
    """The Follow / Unfollow buttons of the status page and the preferences page."""
    current = await _signed_in(request, session)
    if not isinstance(current, Viewer):
        return current
    form = {k: str(v) for k, v in (await request.form()).items()}
    back = form.get("next", "")
    back = back if _BACK.match(back) else "/preferences"
    if not hmac.compare_digest(form.get("csrf", ""), current.csrf):
        return await _preferences(request, session, current, error="The form expired; try again.")
    try:
        async with session.begin_nested():
            if form.get("action") == "unfollow":
                await following.do_unfollow_service(session, user=current.user, slug=slug)
            else:
                await following.do_follow_service(session, user=current.user, slug=slug)
    except AppError:
        return render(request, "not_found.html", current, status_code=404)
    return RedirectResponse(back, 303)


@router.post("/preferences", response_model=None)
async def save_preferences(request: Request, session: Session) -> Response:
    current = await _signed_in(request, session)
    if not isinstance(current, Viewer):
        return current
    form = {k: str(v) for k, v in (await request.form()).items()}
    error = notice = None
    if not hmac.compare_digest(form.get("csrf", ""), current.csrf):
        error = "The form expired; try again."
    else:
        zone = form.get("timezone", "").strip() or "UTC"
        quiet = None
        if form.get("quiet_start") and form.get("quiet_end"):
            quiet = {"start": form["quiet_start"], "end": form["quiet_end"], "timezone": zone}
        try:
            update = PreferencesUpdate.model_validate(
                {
                    "email": form.get("email") == "on",
                    "digest": form.get("digest", "immediate"),
                    "timezone": zone,
                    "quiet_hours": quiet,
                }
            )
            async with session.begin_nested():
                await preferences.do_update_preferences(
                    session,
                    user=current.user,
                    update=update,
                    box=cast(SecretBox, request.app.state.secret_box),
                )
            notice = "Saved."
        except ValidationError as exc:
            error = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        except AppError as exc:
            error = exc.message
    return await _preferences(request, session, current, error=error, notice=notice)
