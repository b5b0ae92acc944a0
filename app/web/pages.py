"""Pages for agents and end users: sign-in, tickets, a ticket's conversation."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth import sessions
from app.auth.service import authenticate_password
from app.auth.sso.provisioning import audit
from app.chat.history import conversation_backlog
from app.chat.limits import ChatLimits
from app.chat.receipts import place_receipts, receipts_for
from app.deps import AppSettings, Attempts, Session, client_address
from app.files.sniffing import INLINE_TYPES
from app.followers import service as followers_service
from app.followers.audiences import followers_of
from app.kit.attempts import SIGN_IN_PER_ACCOUNT, SIGN_IN_PER_ADDRESS, TooManyAttempts
from app.kit.errors import NotFound
from app.kit.ids import Id
from app.tickets import repository as tickets_repo
from app.tickets import service as tickets_service
from app.web.context import (
    LOGIN_CSRF_COOKIE,
    render,
    render_login,
    safe_next,
    set_session_cookie,
    to_login,
    viewer,
)
from app.web.sso_pages import provider_logout_url
from connectors.base import STATUSES

router = APIRouter(include_in_schema=False)


@router.get("/", response_model=None)
async def home(request: Request, session: Session) -> Response:
    return RedirectResponse("/tickets" if await viewer(request, session) else "/login", 303)


@router.get("/login", response_model=None)
async def login_form(request: Request, session: Session, next: str | None = None) -> Response:
    if await viewer(request, session):
        return RedirectResponse(safe_next(next), 303)
    return render_login(request, target=safe_next(next))


def _login_refused(
    request: Request, target: str, status: int, error: str, limited: TooManyAttempts | None = None
) -> Response:
    refused = render_login(request, target=target, status=status, error=error)
    if limited is not None:
        refused.headers["Retry-After"] = str(limited.retry_after)
    return refused


@router.post("/login", response_model=None)
async def login(
    request: Request, session: Session, settings: AppSettings, attempts: Attempts
) -> Response:
    form = await request.form()
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    sent, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    address = client_address(request)
    user = None
    try:
        # Failures count per account and per address: guessing is slowed down wherever
        # it comes from, and one address cannot lock many accounts for long.
        await attempts.check(SIGN_IN_PER_ACCOUNT, email)
        await attempts.check(SIGN_IN_PER_ADDRESS, address)
    except TooManyAttempts as exc:
        return _login_refused(request, target, 429, f"Too many attempts: {exc.message}.", exc)
    if expected and hmac.compare_digest(sent, expected):
        user = await authenticate_password(session, email, password)
    if user is None:
        await attempts.record(SIGN_IN_PER_ACCOUNT, email)
        await attempts.record(SIGN_IN_PER_ADDRESS, address)
        error = "That e-mail and password do not match. Check both and try again."
        return _login_refused(request, target, 401, error)
    await attempts.clear(SIGN_IN_PER_ACCOUNT, email)
    if user.role.value not in settings.password_sign_in:
        # Checked after the password, so the answer tells nothing to someone guessing.
        providers = " or ".join(p.label for p in settings.sso_providers) or "single sign-on"
        return _login_refused(request, target, 403, f"Your account signs in with {providers}.")
    token, _ = await sessions.do_start_session(session, user=user)
    response = RedirectResponse(target, 303)
    set_session_cookie(response, token, settings)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", response_model=None)
async def logout(request: Request, session: Session, settings: AppSettings) -> Response:
    current = await viewer(request, session)
    form = await request.form()
    cookie = request.cookies.get(sessions.COOKIE)
    response: Response = RedirectResponse("/login", 303)
    if current and cookie and hmac.compare_digest(str(form.get("csrf", "")), current.csrf):
        await sessions.do_end_session(session, token=cookie)
        provider = current.web_session.sso_provider
        audit(session, "signed_out", user_id=current.user.id, provider=provider)
        if provider:
            # Offered, not forced: signing out of Socialdesk need not sign the person out
            # of every other application their provider session serves.
            provider_logout = await provider_logout_url(
                request, settings, provider, current.web_session.sso_id_token
            )
            response = render(request, "signed_out.html", None, provider_logout=provider_logout)
    response.delete_cookie(sessions.COOKIE)
    return response


@router.get("/tickets", response_model=None)
async def tickets_page(request: Request, session: Session, status: str | None = None) -> Response:
    current = await viewer(request, session)
    if current is None:
        return to_login(request)
    chosen = status if status in STATUSES else None
    tickets = await tickets_repo.list_visible(
        session,
        current.user,
        connector_id=None,
        external_id=None,
        status=chosen,
        after=None,
        limit=200,
    )
    return render(
        request,
        "tickets.html",
        current,
        tickets=sorted(tickets, key=lambda t: t.external_updated_at, reverse=True),
        statuses=STATUSES,
        status=chosen,
    )


@router.get("/tickets/{ticket_id}", response_model=None)
async def ticket_page(request: Request, ticket_id: Id, session: Session) -> Response:
    current = await viewer(request, session)
    if current is None:
        return to_login(request)
    try:
        ticket = await tickets_service.check_ticket_visible(
            session, user=current.user, ticket_id=ticket_id
        )
    except NotFound:
        return render(request, "not_found.html", current, status_code=404)
    timeline = await tickets_service.timeline_for(
        session, user=current.user, ticket_id=ticket_id, after=None, limit=200
    )
    # The conversation as the socket's backlog has it (the page then subscribes `since`
    # its last entries), with the read markers this viewer may see under their messages.
    limits = getattr(request.app.state, "chat_limits", None) or ChatLimits()
    backlog = await conversation_backlog(
        session, user=current.user, ticket_id=ticket_id, since=None, since_event=None, limits=limits
    )
    shown = [f["message"]["id"] for f in backlog.frames if f["type"] == "message"]
    receipts = await receipts_for(session, viewer=current.user, ticket_id=ticket_id)
    try:
        followers = await followers_service.followers_page(
            session, viewer=current.user, ticket_id=ticket_id, after=None, limit=50
        )
        following = current.user.id in await followers_of(session, ticket_id)
    except NotFound:  # a ticket you may see but not follow
        followers, following = None, False
    requester_name = await tickets_service.requester_name_of(session, ticket)
    return render(
        request,
        "ticket.html",
        current,
        ticket=ticket,
        requester_name=requester_name,
        timeline=timeline,
        conversation=backlog,
        seen=place_receipts(receipts, shown),
        followers=followers,
        following=following,
        inline_types=INLINE_TYPES,
    )


@router.post("/tickets/{ticket_id}/follow", response_model=None)
async def follow(request: Request, ticket_id: Id, session: Session) -> Response:
    current = await viewer(request, session)
    if current is None:
        return to_login(request)
    form = await request.form()
    if hmac.compare_digest(str(form.get("csrf", "")), current.csrf):
        try:
            if form.get("follow") == "yes":
                await followers_service.do_follow_ticket(
                    session, user=current.user, ticket_id=ticket_id
                )
            else:
                await followers_service.do_unfollow_ticket(
                    session, user=current.user, ticket_id=ticket_id
                )
        except NotFound:
            return render(request, "not_found.html", current, status_code=404)
    return RedirectResponse(f"/tickets/{ticket_id}", 303)


def html_not_found(request: Request) -> HTMLResponse:
    return render(request, "not_found.html", None, status_code=404)
