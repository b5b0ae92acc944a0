"""Sign in with a SAML 2.0 identity provider: our SP metadata, the button's target, the ACS.

As for OpenID Connect (app/web/sso_pages.py), every refusal is the sign-in page with a
sentence saying what to do (400), never a 500; the details go to the log and the audit.
"""

from __future__ import annotations

import logging
from typing import Annotated

import httpx
from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from app.auth import sessions
from app.auth.sso import saml
from app.auth.sso.logins import FLOW_LIFETIME
from app.auth.sso.oidc import SsoError
from app.deps import AppSettings, Session
from app.web.context import render_login, safe_next, set_session_cookie, viewer

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
ProviderName = Annotated[str, Path(max_length=40)]
_FLOW_COOKIE_PATH = "/auth/saml/"
_NO_SUCH = "There is no such sign-in service here."


def _http(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient = request.app.state.runtime.http
    return client


def _refused(request: Request, message: str, status: int) -> Response:
    response = render_login(request, status=status, error=message)
    response.delete_cookie(saml.FLOW_COOKIE, path=_FLOW_COOKIE_PATH)
    return response


@router.get("/auth/saml/{name}/metadata", response_model=None)
async def saml_metadata(request: Request, name: ProviderName, settings: AppSettings) -> Response:
    provider = settings.saml_provider(name)
    if provider is None:
        return _refused(request, _NO_SUCH, 404)
    xml = saml.sp_metadata(saml.sp_urls(settings.base_url, provider))
    return Response(xml, media_type="application/samlmetadata+xml")


@router.get("/auth/saml/{name}/start", response_model=None)
async def saml_start(
    request: Request,
    name: ProviderName,
    session: Session,
    settings: AppSettings,
    next: str | None = None,
) -> Response:
    provider = settings.saml_provider(name)
    if provider is None:
        return _refused(request, _NO_SUCH, 404)
    if await viewer(request, session):
        return RedirectResponse(safe_next(next), 303)
    try:
        url, key = await saml.do_begin(
            session,
            provider,
            _http(request),
            urls=saml.sp_urls(settings.base_url, provider),
            next_path=safe_next(next),
        )
    except SsoError as exc:
        log.warning("SAML sign-in with %s cannot start: %s", name, exc.detail)
        return _refused(request, exc.message, 502)
    response = RedirectResponse(url, 303)
    secure = settings.base_url.startswith("https://")
    response.set_cookie(
        saml.FLOW_COOKIE,
        key,
        max_age=int(FLOW_LIFETIME.total_seconds()),
        path=_FLOW_COOKIE_PATH,
        httponly=True,
        # The IdP's answer is a cross-site POST, on which browsers send only SameSite=None
        # cookies, which must be Secure; plain-HTTP setups (loopback) keep Lax.
        samesite="none" if secure else "lax",
        secure=secure,
    )
    return response


@router.post("/auth/saml/{name}/acs", response_model=None)
async def saml_acs(
    request: Request,
    name: ProviderName,
    session: Session,
    settings: AppSettings,
    saml_response: Annotated[str | None, Form(alias="SAMLResponse", max_length=200_000)] = None,
    relay_state: Annotated[str | None, Form(alias="RelayState", max_length=200)] = None,
) -> Response:
    provider = settings.saml_provider(name)
    if provider is None:
        return _refused(request, _NO_SUCH, 404)
    try:
        user, target = await saml.do_finish(
            session,
            provider,
            _http(request),
            urls=saml.sp_urls(settings.base_url, provider),
            flow_key=request.cookies.get(saml.FLOW_COOKIE),
            saml_response=saml_response,
            relay_state=relay_state,
        )
    except SsoError as exc:
        log.warning("SAML sign-in with %s refused: %s", name, exc.detail)
        return _refused(request, exc.message, 400)
    token, _ = await sessions.do_start_session(session, user=user, sso_provider=provider.name)
    response = RedirectResponse(target, 303)
    set_session_cookie(response, token, settings)
    response.delete_cookie(saml.FLOW_COOKIE, path=_FLOW_COOKIE_PATH)
    return response
