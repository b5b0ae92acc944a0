"""Encryption of connector secrets at rest, API token hashing, password hashing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_PREFIX = "sd_"  # noqa: S105 - a prefix, not a secret


def key_ring(secret_key: str) -> list[str]:
    """The keys in SOCIALDESK_SECRET_KEY: `newest,older,...` (commas or spaces between).

    The first key encrypts and signs; every key decrypts and verifies, so a key is rotated
    by putting a new one first and dropping the old one once `socialdesk keys reseal` ran
    and the links signed with it have expired.
    """
    keys = [k for k in secret_key.replace(",", " ").split() if k]
    if not keys:
        raise ValueError("SOCIALDESK_SECRET_KEY is empty")
    return keys


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )


class SecretBox:
    """Fernet with keys derived from SOCIALDESK_SECRET_KEY (HKDF, purpose-bound).

    MultiFernet: sealed with the newest key, opened with any key of the ring.
    """

    def __init__(self, secret_key: str) -> None:
        self._fernet = MultiFernet(
            [
                Fernet(base64.urlsafe_b64encode(_derive(key, b"connector-secrets")))
                for key in key_ring(secret_key)
            ]
        )

    def reseal(self, sealed: str) -> str:
        """The same secrets sealed with the newest key (InvalidToken: no key opens them)."""
        return self._fernet.rotate(sealed.encode()).decode()

    def seal(self, values: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode()).decode()

    def open(self, sealed: str) -> dict[str, str]:
        try:
            data = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as exc:
            raise ValueError("connector secrets cannot be decrypted with this SECRET_KEY") from exc
        return {str(k): str(v) for k, v in data.items()}


def new_api_token() -> str:
    """A token shown once; only its hash is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens carry 256 bits of entropy, so a fast hash is enough (no brute force possible).
    return hashlib.sha256(token.encode()).hexdigest()


# Passwords: argon2id with argon2-cffi's defaults (RFC 9106's second recommended profile:
# 64 MiB, 3 passes). Hashing is CPU-bound for tens of milliseconds, so the async helpers run
# it in a thread: on the event loop it would stall every other request meanwhile.
_ARGON2 = PasswordHasher()
# Hashes of the first release (scrypt), still verified; replaced at the next sign-in.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    return _ARGON2.hash(password)


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    ok: bool
    # The stored hash is of an old scheme or weaker parameters: store `hash_password` anew.
    needs_rehash: bool = False


def verify_password(password: str, stored: str) -> PasswordCheck:
    if stored.startswith("scrypt$"):
        return PasswordCheck(_verify_scrypt(password, stored), needs_rehash=True)
    try:
        _ARGON2.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return PasswordCheck(False)
    return PasswordCheck(True, needs_rehash=_ARGON2.check_needs_rehash(stored))


@lru_cache(maxsize=1)
def _stand_in_hash() -> str:
    return _ARGON2.hash(secrets.token_urlsafe(16))


def spend_password_check(password: str) -> None:
    """As much work as checking a password, for an e-mail with none: equal answer times."""
    verify_password(password, _stand_in_hash())


async def hash_password_off_loop(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_off_loop(password: str, stored: str | None) -> PasswordCheck:
    """Check `password` (or spend the same time when there is no `stored` hash)."""
    if stored is None:
        await asyncio.to_thread(spend_password_check, password)
        return PasswordCheck(False)
    return await asyncio.to_thread(verify_password, password, stored)


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        _scheme, salt_hex, digest_hex = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)
