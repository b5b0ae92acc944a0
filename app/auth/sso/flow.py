"""The authorization code flow, from the sign-in button to a signed-in user.

`do_begin` stores what the callback must check (state, nonce, PKCE verifier) on the server
under a random key that only this browser holds, in a cookie: the callback then proves it
comes back to the browser that started the sign-in (no login CSRF), and each sign-in can
finish once. Any replica can finish what another began.
"""

from __future__ import annotations

import secrets

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.sso.logins import do_start_login, do_take_login
from app.auth.sso.oidc import SsoError, client_for
from app.auth.sso.provisioning import account_from_claims, audit, do_sign_in
from app.config import SsoProvider
from app.models import User

FLOW_COOKIE = "sd_sso"


async def do_begin(
    session: AsyncSession,
    provider: SsoProvider,
    http: httpx.AsyncClient,
    *,
    redirect_uri: str,
    next_path: str,
) -> tuple[str, str]:
    """The provider's authorization URL, and the cookie value that ties it to this browser."""
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43-128
    url = await client_for(provider, http).authorization_url(
        redirect_uri=redirect_uri, state=state, nonce=nonce, code_verifier=verifier
    )
    key = await do_start_login(
        session, provider.name, state=state, nonce=nonce, code_verifier=verifier,
        next_path=next_path,
    )  # fmt: skip
    return url, key


async def do_finish(
    session: AsyncSession,
    provider: SsoProvider,
    http: httpx.AsyncClient,
    *,
    redirect_uri: str,
    flow_key: str | None,
    state: str | None,
    code: str | None,
    error: str | None,
) -> tuple[User, str, str]:
    """The signed-in user, where they were going and the ID token; SsoError otherwise."""
    try:
        login = await do_take_login(
            session, provider.name, flow_key, presented=state, expected=lambda row: row.state
        )
        if error:
            raise SsoError(
                f"The sign-in was not completed at {provider.label}. Start again if you like.",
                detail=f"provider said {error[:100]}",
            )
        if not code:
            raise SsoError("The sign-in service sent no answer. Start again.", detail="no code")
        client = client_for(provider, http)
        tokens = await client.exchange_code(
            code=code, redirect_uri=redirect_uri, code_verifier=login.code_verifier
        )
        access_token = tokens.get("access_token")
        claims = await client.verify_id_token(
            str(tokens["id_token"]),
            nonce=login.nonce,
            access_token=access_token if isinstance(access_token, str) else None,
        )
        user = await do_sign_in(session, provider, account_from_claims(provider, claims))
    except SsoError as exc:
        audit(session, "refused", user_id=exc.user_id, provider=provider.name, reason=exc.detail)
        raise
    return user, login.next_path, str(tokens["id_token"])
