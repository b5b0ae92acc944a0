"""SAML 2.0 sign-in: Socialdesk as service provider, the protocol work done by pysaml2.

pysaml2 builds the AuthnRequest (HTTP-Redirect binding) and checks the response: the XML
signature against the IdP's metadata (with the xmlsec1 binary), the audience, the
destination and recipient, the validity window and InResponseTo. This module adds what
pysaml2 leaves to the caller: the sign-in must belong to this browser (a server-side
SsoLogin row whose key only the browser holds), and an assertion is used once (its ID is
stored until it expires).

pysaml2 is synchronous and runs xmlsec1 as a subprocess, so parsing runs in a thread.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.sso.logins import do_start_login, do_take_login
from app.auth.sso.oidc import SsoError
from app.auth.sso.provisioning import ProviderAccount, audit, do_sign_in, groups_from
from app.config import SamlProvider
from app.kit.clock import utcnow
from app.models import SamlAssertion, User

FLOW_COOKIE = "sd_saml"
CLOCK_SKEW_SECONDS = 60
METADATA_TTL_SECONDS = 600  # the IdP's keys are re-read this often (rotation)
_metadata_cache: dict[str, tuple[float, str]] = {}


@dataclass(frozen=True)
class SpUrls:
    entity_id: str
    acs: str


def sp_urls(base_url: str, provider: SamlProvider) -> SpUrls:
    """Our entityID (the metadata URL) and assertion consumer, which the IdP must know."""
    base = f"{base_url.rstrip('/')}/auth/saml/{provider.name}"
    return SpUrls(entity_id=f"{base}/metadata", acs=f"{base}/acs")


async def idp_metadata(provider: SamlProvider, http: httpx.AsyncClient) -> str:
    """The IdP's metadata XML, fetched at most every METADATA_TTL_SECONDS."""
    cached = _metadata_cache.get(provider.metadata_url)
    if cached is not None and time.monotonic() - cached[0] < METADATA_TTL_SECONDS:
        return cached[1]
    try:
        answer = await http.get(provider.metadata_url, timeout=10)
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        raise SsoError(
            f"{provider.label} cannot be reached right now. Try again in a moment.",
            detail=f"metadata: {exc!r}"[:300],
        ) from None
    _metadata_cache[provider.metadata_url] = (time.monotonic(), answer.text)
    return answer.text


def _client(urls: SpUrls, metadata_xml: str | None) -> Saml2Client:
    config = SPConfig()
    config.load(
        {
            "entityid": urls.entity_id,
            "metadata": {"inline": [metadata_xml]} if metadata_xml else {},
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(urls.acs, BINDING_HTTP_POST)]},
                    "allow_unsolicited": False,  # IdP-initiated sign-in: no InResponseTo
                    "authn_requests_signed": False,
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "name_id_format": NAMEID_FORMAT_PERSISTENT,
                    "name_id_policy_format": NAMEID_FORMAT_PERSISTENT,
                    "name_id_format_allow_create": True,
                }
            },
            "accepted_time_diff": CLOCK_SKEW_SECONDS,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "allow_unknown_attributes": True,
        }
    )
    return Saml2Client(config)


def sp_metadata(urls: SpUrls) -> str:
    """Our SP metadata, for the IdP's administrator."""
    xml: bytes | str = create_metadata_string(None, config=_client(urls, None).config)
    return xml.decode() if isinstance(xml, bytes) else xml


async def do_begin(
    session: AsyncSession,
    provider: SamlProvider,
    http: httpx.AsyncClient,
    *,
    urls: SpUrls,
    next_path: str,
) -> tuple[str, str]:
    """The IdP's URL carrying our AuthnRequest, and the cookie value tying it to this browser."""
    metadata_xml = await idp_metadata(provider, http)
    now = utcnow()
    await session.execute(delete(SamlAssertion).where(SamlAssertion.expires_at <= now))
    relay_state = secrets.token_urlsafe(32)
    try:
        client = _client(urls, metadata_xml)
        (idp_entity_id,) = client.metadata.identity_providers()
        request_id, info = client.prepare_for_authenticate(
            entityid=idp_entity_id, relay_state=relay_state, binding=BINDING_HTTP_REDIRECT
        )
    except Exception as exc:  # pysaml2 raises many types for bad or odd metadata
        raise SsoError(
            f"{provider.label} is not set up correctly. Ask your service desk.",
            detail=f"authn request: {exc!r}"[:300],
        ) from None
    location = dict(info["headers"])["Location"]
    key = await do_start_login(
        session,
        provider.name,
        state=request_id,  # the AuthnRequest ID, which the response's InResponseTo names
        nonce=relay_state,
        code_verifier="",
        next_path=next_path,
    )
    return str(location), key


def _parse(client: Saml2Client, saml_response: str, request_id: str) -> Any:
    return client.parse_authn_request_response(
        saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"}
    )


def _first(ava: dict[str, list[Any]], name: str) -> str | None:
    values = ava.get(name) or []
    return str(values[0]).strip() if values else None


def _expiry(response: Any) -> datetime:
    # The assertion is refused after its NotOnOrAfter anyway: remember it until then.
    conditions = response.assertion.conditions
    ends = conditions.not_on_or_after if conditions is not None else None
    try:
        end = datetime.strptime(str(ends), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        end = utcnow() + timedelta(hours=24)
    return end + timedelta(seconds=CLOCK_SKEW_SECONDS)


async def do_finish(
    session: AsyncSession,
    provider: SamlProvider,
    http: httpx.AsyncClient,
    *,
    urls: SpUrls,
    flow_key: str | None,
    saml_response: str | None,
    relay_state: str | None,
) -> tuple[User, str]:
    """The signed-in user and where they were going; SsoError otherwise."""
    try:
        login = await do_take_login(
            session, provider.name, flow_key, presented=relay_state, expected=lambda r: r.nonce
        )
        if not saml_response:
            raise SsoError("The sign-in service sent no answer. Start again.", detail="empty")
        client = _client(urls, await idp_metadata(provider, http))
        try:
            response = await asyncio.to_thread(_parse, client, saml_response, login.state)
        except Exception as exc:  # signature, audience, destination, time, InResponseTo...
            raise SsoError(
                "The answer from the sign-in service could not be verified. Start again.",
                detail=f"saml response refused: {exc!r}"[:300],
            ) from None
        if response is None or response.assertion is None:
            raise SsoError("The sign-in service sent no assertion. Start again.", detail="none")
        await _remember(session, provider, str(response.assertion.id), _expiry(response))
        user = await do_sign_in(session, provider, _account(provider, response))
    except SsoError as exc:
        audit(session, "refused", user_id=exc.user_id, provider=provider.name, reason=exc.detail)
        raise
    return user, login.next_path


def _account(provider: SamlProvider, response: Any) -> ProviderAccount:
    name_id = response.name_id
    subject = str(name_id.text).strip() if name_id is not None and name_id.text else ""
    if not subject or len(subject) > 255:
        raise SsoError("The sign-in could not be verified. Start again.", detail="no NameID")
    ava: dict[str, list[Any]] = response.ava or {}
    email = _first(ava, provider.email_attribute)
    email = email.lower() if email and "@" in email else None
    return ProviderAccount(
        subject=subject,
        email=email,
        # The assertion is signed by the organisation's IdP (trust_unverified_email decides).
        email_verified=False,
        name=(_first(ava, provider.name_attribute) or email or subject)[:200],
        groups=groups_from(list(ava.get(provider.groups_attribute) or [])),
    )


async def _remember(
    session: AsyncSession, provider: SamlProvider, assertion_id: str, expires_at: datetime
) -> None:
    """Store the assertion's ID; an ID seen before is a replay."""
    replay = SsoError(
        "This sign-in answer has already been used. Start again.",
        detail=f"replayed assertion {assertion_id[:100]}",
    )
    seen = await session.execute(
        select(SamlAssertion.id).where(
            SamlAssertion.provider == provider.name, SamlAssertion.assertion_id == assertion_id
        )
    )
    if seen.first() is not None:
        raise replay
    try:
        async with session.begin_nested():
            session.add(
                SamlAssertion(
                    provider=provider.name, assertion_id=assertion_id[:200], expires_at=expires_at
                )
            )
            await session.flush()
    except IntegrityError:  # the same response posted twice at once
        raise replay from None
