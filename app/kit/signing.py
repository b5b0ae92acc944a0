"""Signed, expiring, purpose-bound tokens for links that work without signing in.

A token is `<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`. The HMAC key is derived
from SOCIALDESK_SECRET_KEY per purpose (HKDF), and the purpose is inside the signed text
too, so an unsubscribe token can never be replayed as, say, a survey token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

from app.kit.secrets import _derive, key_ring


class BadToken(ValueError):
    """The token is malformed, forged, for another purpose, or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and verifies tokens for one purpose (e.g. `unsubscribe`)."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        self._purpose = purpose
        # The newest key signs; every key of the ring verifies (app.kit.secrets.key_ring).
        self._keys = [
            _derive(key, b"signed-token:" + purpose.encode()) for key in key_ring(secret_key)
        ]

    def _mac(self, body: str, key: bytes | None = None) -> bytes:
        text = f"{self._purpose}.{body}".encode()
        return hmac.new(self._keys[0] if key is None else key, text, hashlib.sha256).digest()

    def sign(self, claims: dict[str, Any], *, now: datetime, ttl: timedelta) -> str:
        """A token carrying `claims` that expires `ttl` after `now`."""
        payload = {**claims, "exp": int((now + ttl).timestamp())}
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_b64(self._mac(body))}"

    def verify(self, token: str, *, now: datetime) -> dict[str, Any]:
        """The claims of a genuine, unexpired token; BadToken otherwise."""
        body, sep, signature = token.partition(".")
        if not sep or not body or not signature:
            raise BadToken("malformed token")
        try:
            given = _unb64(signature)
            claims = json.loads(_unb64(body))
        except (binascii.Error, ValueError) as exc:
            raise BadToken("malformed token") from exc
        # Compare the MAC before trusting anything the body says.
        if not any(hmac.compare_digest(given, self._mac(body, key)) for key in self._keys):
            raise BadToken("bad signature")
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            raise BadToken("malformed token")
        if now.timestamp() >= claims["exp"]:
            raise BadToken("expired token")
        return claims
