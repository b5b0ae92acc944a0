"""Sign-ins in flight, shared by the OIDC and SAML flows.

What the provider's answer must be checked against (state, nonce, PKCE verifier, SAML
request id and RelayState) stays on the server under a random key that only the browser
which began the sign-in holds, in a cookie: the answer proves it comes back to that
browser (no login CSRF), each sign-in finishes once, and any replica can finish it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.sso.oidc import SsoError
from app.kit.clock import utcnow
from app.kit.secrets import hash_token
from app.models import SsoLogin

FLOW_LIFETIME = timedelta(minutes=10)  # time to type a password (and a second factor)


async def do_start_login(
    session: AsyncSession,
    provider: str,
    *,
    state: str,
    nonce: str,
    code_verifier: str,
    next_path: str,
) -> str:
    """Store a sign-in in flight (expired ones go at the same time); the cookie's key."""
    now = utcnow()
    await session.execute(delete(SsoLogin).where(SsoLogin.expires_at <= now))
    key = secrets.token_urlsafe(32)
    session.add(
        SsoLogin(
            key_hash=hash_token(key),
            provider=provider,
            state=state,
            nonce=nonce,
            code_verifier=code_verifier,
            next_path=next_path,
            expires_at=now + FLOW_LIFETIME,
        )
    )
    await session.flush()
    return key


async def do_take_login(
    session: AsyncSession,
    provider: str,
    flow_key: str | None,
    *,
    presented: str | None,
    expected: Callable[[SsoLogin], str],
) -> SsoLogin:
    """The sign-in this browser began, removed so it cannot be finished twice.

    `presented` is what came back from the provider (OIDC `state`, SAML `RelayState`) and
    must equal `expected(login)`, the value sent with this browser's request.
    """
    if not flow_key:
        raise SsoError(
            "This sign-in was started in another browser or has expired. Start again.",
            detail="no flow cookie",
        )
    login = (
        await session.execute(
            select(SsoLogin).where(
                SsoLogin.key_hash == hash_token(flow_key), SsoLogin.provider == provider
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
    if not presented or not hmac.compare_digest(presented.encode(), expected(login).encode()):
        raise SsoError(
            "This sign-in does not match the one this browser started. Start again.",
            detail="state mismatch",
        )
    return login
