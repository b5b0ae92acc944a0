"""The authorization code flow, from the sign-in button to a signed-in user.

`do_begin` stores what the callback must check (state, nonce, PKCE verifier) on the server
under a random key that only this browser holds, in a cookie: the callback then proves it
comes back to the browser that started the sign-in (no login CSRF), and each sign-in can
finish once. Any replica can finish what another began.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

import httpx
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.sso.oidc import SsoError, client_for
from app.auth.sso.provisioning import account_from_claims, audit, do_sign_in
from app.config import SsoProvider
from app.kit.clock import utcnow
from app.kit.secrets import hash_token
from app.models import SsoLogin, User

FLOW_COOKIE = "sd_sso"
FLOW_LIFETIME = timedelta(minutes=10)  # time to type a password (and a second factor)


async def do_begin(
    session: AsyncSession,
    provider: SsoProvider,
    http: httpx.AsyncClient,
    *,
    redirect_uri: str,
    next_path: str,
) -> tuple[str, str]:
    """The provider's authorization URL, and the cookie value that ties it to this browser."""
    now = utcnow()
    await session.execute(delete(SsoLogin).where(SsoLogin.expires_at <= now))
    key = secrets.token_urlsafe(32)
    login = SsoLogin(
        key_hash=hash_token(key),
        provider=provider.name,
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),  # 86 characters, within RFC 7636's 43-128
        next_path=next_path,
        expires_at=now + FLOW_LIFETIME,
    )
    url = await client_for(provider, http).authorization_url(
        redirect_uri=redirect_uri,
        state=login.state,
        nonce=login.nonce,
        code_verifier=login.code_verifier,
    )
    session.add(login)
    await session.flush()
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
        login = await _take(session, provider, flow_key, state)
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


async def _take(
    session: AsyncSession, provider: SsoProvider, flow_key: str | None, state: str | None
) -> SsoLogin:
    """The sign-in this browser began, removed so it cannot be finished twice."""
    if not flow_key:
        raise SsoError(
            "This sign-in was started in another browser or has expired. Start again.",
            detail="no flow cookie",
        )
    login = (
        await session.execute(
            select(SsoLogin).where(
                SsoLogin.key_hash == hash_token(flow_key), SsoLogin.provider == provider.name
            )
        )
    ).scalar_one_or_none()
    if login is None:
        raise SsoError(
            "This sign-in has already been used or has expired. Start again.",
            detail="unknown or used flow",
        )
    await session.delete(login)
    await session.flush()
    if login.expires_at <= utcnow():
        raise SsoError("This sign-in has expired. Start again.", detail="flow expired")
    if not state or not hmac.compare_digest(state.encode(), login.state.encode()):
        raise SsoError(
            "This sign-in does not match the one this browser started. Start again.",
            detail="state mismatch",
        )
    return login
