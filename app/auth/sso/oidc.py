"""OpenID Connect, the relying party's half: discovery, the code flow with PKCE, ID tokens.

The protocol checks are the libraries': joserfc verifies the ID token's signature against
the provider's JWKS, Authlib's `CodeIDToken` its claims (issuer, audience, expiry, nonce,
`azp`, `at_hash`), PKCE's S256 challenge comes from Authlib. What is left here is
plumbing: fetching and caching the provider's documents, and one token request.

Discovery and keys are cached per process; a token signed with a key id we do not know
refetches the JWKS once, which is how a provider's key rotation reaches us.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from app.config import SsoProvider

# Clocks of the provider and of our replicas disagree a little; tokens live minutes.
CLOCK_SKEW_SECONDS = 120
_METADATA_TTL_SECONDS = 3600.0
# Public-key signatures only, whatever the discovery document advertises: `none` proves
# nothing, and an HMAC "signature" keyed with the client secret could be made by anyone
# who has that secret, which is not only the provider.
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


class SsoError(Exception):
    """A sign-in that cannot go on; `message` is safe to show to the person signing in."""

    def __init__(self, message: str, *, detail: str = "", user_id: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or message  # for the log and the audit, never the page
        self.user_id = user_id  # whom it concerns, when known (for the audit)


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    signing_algorithms: tuple[str, ...]


class OidcClient:
    """One provider, as the relying party `provider.client_id`."""

    def __init__(self, provider: SsoProvider, http: httpx.AsyncClient) -> None:
        self.provider = provider
        self._http = http
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()

    async def metadata(self) -> ProviderMetadata:
        cached = self._metadata
        if cached is not None and time.monotonic() - cached[0] < _METADATA_TTL_SECONDS:
            return cached[1]
        document = await self._get_json(self.provider.discovery_url, "discovery document")
        try:
            metadata = ProviderMetadata(
                issuer=str(document["issuer"]),
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                jwks_uri=str(document["jwks_uri"]),
                end_session_endpoint=document.get("end_session_endpoint"),
                signing_algorithms=tuple(
                    alg
                    for alg in document.get("id_token_signing_alg_values_supported") or ["RS256"]
                    if alg in ASYMMETRIC
                ),
            )
        except (KeyError, TypeError) as exc:
            raise SsoError(
                "The sign-in service is misconfigured.", detail=f"discovery lacks {exc}"
            ) from None
        self._metadata = (time.monotonic(), metadata)
        return metadata

    async def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str:
        metadata = await self.metadata()
        params = {
            "response_type": "code",
            "client_id": self.provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.provider.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(code_verifier),
            "code_challenge_method": "S256",
        }
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return f"{metadata.authorization_endpoint}{separator}{urlencode(params)}"

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str
    ) -> dict[str, Any]:
        """The token response for an authorization code (client_secret_basic)."""
        metadata = await self.metadata()
        secret = self.provider.client_secret.get_secret_value()
        try:
            response = await self._http.post(
                metadata.token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": code_verifier,
                },
                auth=httpx.BasicAuth(self.provider.client_id, secret),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise SsoError(
                "The sign-in service did not answer. Try again in a moment.",
                detail=f"token endpoint: {type(exc).__name__}",
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict) or "id_token" not in body:
            reason = body.get("error", response.status_code) if isinstance(body, dict) else ""
            raise SsoError(
                "The sign-in service refused this sign-in. Start again.",
                detail=f"token endpoint answered {response.status_code}: {reason}",
            )
        return body

    async def verify_id_token(
        self, id_token: str, *, nonce: str, access_token: str | None
    ) -> dict[str, Any]:
        """The ID token's claims, once signature and claims are verified."""
        metadata = await self.metadata()
        registry = JWSRegistry(algorithms=list(metadata.signing_algorithms))
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(), registry=registry)
            except InvalidKeyIdError:
                token = jwt.decode(id_token, await self._key_set(refresh=True), registry=registry)
            claims = CodeIDToken(
                token.claims,
                token.header,
                options={
                    "iss": {"essential": True, "value": metadata.issuer},
                    "aud": {"essential": True, "value": self.provider.client_id},
                },
                params={"nonce": nonce, "client_id": self.provider.client_id}
                | ({"access_token": access_token} if access_token else {}),
            )
            claims.validate(leeway=CLOCK_SKEW_SECONDS)
        except (JoseError, ValueError) as exc:
            raise SsoError(
                "The sign-in could not be verified. Start again.",
                detail=f"ID token refused: {type(exc).__name__}: {exc}",
            ) from None
        return dict(claims)

    def logout_url(
        self, metadata: ProviderMetadata, *, post_logout_redirect_uri: str, id_token: str | None
    ) -> str:
        """RP-initiated logout at the provider (the caller checked it has an endpoint)."""
        assert metadata.end_session_endpoint is not None
        params = {
            "client_id": self.provider.client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri,
        }
        if id_token:
            params["id_token_hint"] = id_token
        separator = "&" if "?" in metadata.end_session_endpoint else "?"
        return f"{metadata.end_session_endpoint}{separator}{urlencode(params)}"

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        async with self._lock:
            if self._keys is None or refresh:
                metadata = await self.metadata()
                document = await self._get_json(metadata.jwks_uri, "signing keys")
                try:
                    self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError, KeyError) as exc:
                    raise SsoError(
                        "The sign-in service is misconfigured.",
                        detail=f"JWKS unreadable: {exc}",
                    ) from None
            return self._keys

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SsoError(
                "The sign-in service did not answer. Try again in a moment.",
                detail=f"{what} at {url}: {type(exc).__name__}",
            ) from None
        if not isinstance(document, dict):
            raise SsoError("The sign-in service is misconfigured.", detail=f"{what} not JSON")
        return document


_clients: dict[tuple[str, str, str], OidcClient] = {}


def client_for(provider: SsoProvider, http: httpx.AsyncClient) -> OidcClient:
    """The process's client for a provider (its discovery and keys cached between sign-ins)."""
    key = (provider.name, provider.discovery_url, provider.client_id)
    client = _clients.get(key)
    if client is None or client._http is not http or client.provider != provider:
        client = _clients[key] = OidcClient(provider, http)
    return client
