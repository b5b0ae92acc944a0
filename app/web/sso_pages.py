"""Sign in with an identity provider: the button's target and the provider's callback.

Every refusal is the sign-in page with a sentence saying what to do (400), never a 500 or
a provider's raw error; what went wrong in detail goes to the log and the identity audit.
"""

from __future__ import annotations

import logging
from typing import Annotated

import httpx
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from app.auth import sessions
from app.auth.sso import flow
from app.auth.sso.logins import FLOW_LIFETIME
from app.auth.sso.oidc import SsoError, client_for
from app.config import Settings, SsoProvider
from app.deps import AppSettings, Session
from app.web.context import render_login, safe_next, set_session_cookie, viewer

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
ProviderName = Annotated[str, Path(max_length=40)]
_FLOW_COOKIE_PATH = "/auth/sso/"


def redirect_uri(settings: Settings, provider: SsoProvider) -> str:
    """The callback the provider must allow, exactly (some providers allow no wildcards)."""
    return f"{settings.base_url.rstrip('/')}/auth/sso/{provider.name}/callback"


def _http(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient = request.app.state.runtime.http
    return client


def _refused(request: Request, message: str, status: int) -> Response:
    response = render_login(request, status=status, error=message)
    response.delete_cookie(flow.FLOW_COOKIE, path=_FLOW_COOKIE_PATH)
    return response


@router.get("/auth/sso/{name}/start", response_model=None)
async def sso_start(
    request: Request,
    name: ProviderName,
    session: Session,
    settings: AppSettings,
    next: str | None = None,
) -> Response:
    provider = settings.sso_provider(name)
    if provider is None:
        return _refused(request, "There is no such sign-in service here.", 404)
    if await viewer(request, session):
        return RedirectResponse(safe_next(next), 303)
    try:
        url, key = await flow.do_begin(
            session,
            provider,
            _http(request),
            redirect_uri=redirect_uri(settings, provider),
            next_path=safe_next(next),
        )
    except SsoError as exc:
        log.warning("single sign-on with %s cannot start: %s", name, exc.detail)
        return _refused(request, exc.message, 502)
    response = RedirectResponse(url, 303)
    response.set_cookie(
        flow.FLOW_COOKIE,
        key,
        max_age=int(FLOW_LIFETIME.total_seconds()),
        path=_FLOW_COOKIE_PATH,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back, not on sub-requests
        secure=settings.base_url.startswith("https://"),
    )
    return response


@router.get("/auth/sso/{name}/callback", response_model=None)
async def sso_callback(
    request: Request,
    name: ProviderName,
    session: Session,
    settings: AppSettings,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    provider = settings.sso_provider(name)
    if provider is None:
        return _refused(request, "There is no such sign-in service here.", 404)
    try:
        user, target, id_token = await flow.do_finish(
            session,
            provider,
            _http(request),
            redirect_uri=redirect_uri(settings, provider),
            flow_key=request.cookies.get(flow.FLOW_COOKIE),
            state=state,
            code=code,
            error=error,
        )
    except SsoError as exc:
        log.warning("single sign-on with %s refused: %s", name, exc.detail)
        return _refused(request, exc.message, 400)
    token, _ = await sessions.do_start_session(
        session, user=user, sso_provider=provider.name, sso_id_token=id_token
    )
    response = RedirectResponse(target, 303)
    set_session_cookie(response, token, settings)
    response.delete_cookie(flow.FLOW_COOKIE, path=_FLOW_COOKIE_PATH)
    return response


async def provider_logout_url(
    request: Request, settings: Settings, name: str, id_token: str | None
) -> str | None:
    """The provider's own sign-out (RP-initiated logout), where it has one."""
    provider = settings.sso_provider(name)
    if provider is None:
        return None
    client = client_for(provider, _http(request))
    try:
        metadata = await client.metadata()
    except SsoError as exc:
        log.warning("no sign-out link for %s: %s", name, exc.detail)
        return None
    if metadata.end_session_endpoint is None:
        return None
    return client.logout_url(
        metadata, post_logout_redirect_uri=f"{settings.base_url.rstrip('/')}/", id_token=id_token
    )
