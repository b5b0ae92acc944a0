"""Reply addresses: `reply+<ticket>-<user>-<kind><expiry>-<mac>@<domain>`, signed.

Every ticket e-mail a person gets says, in its Reply-To, which ticket and which recipient
it was for and whether it was public; the MAC (HMAC-SHA256 under a key derived from
SOCIALDESK_SECRET_KEY for this purpose alone, 80 bits kept) means none of that can be
guessed, changed or moved to another ticket. The address is lower case and short: mail
systems may fold the case of a local part and cut it at 64 characters (RFC 5321), and a
base64 token survives neither.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.config import Settings
from app.kit.secrets import _derive, key_ring

_DAY = 86_400
_ADDRESS = re.compile(
    r"^reply\+(?P<ticket>[0-9]{1,18})-(?P<user>[0-9]{1,18})-(?P<kind>[pi])(?P<expiry>[0-9]{1,7})"
    r"-(?P<mac>[a-z2-7]{16})@(?P<domain>[a-z0-9.-]+)$"
)


class BadReplyAddress(ValueError):
    """A reply address that is forged, altered, expired or for another domain."""


@dataclass(frozen=True, slots=True)
class ReplyClaims:
    ticket_id: int
    user_id: int
    # The mail replied to was public: a staff member's reply to it is public too.
    public: bool


class ReplyAddresses:
    """Makes and checks reply addresses; the first key signs, every key verifies."""

    def __init__(self, secret_keys: Sequence[str], *, domain: str, ttl: timedelta) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is needed")
        self.domain = domain.lower()
        self.ttl = ttl
        self._keys = [_derive(key, b"reply-address") for key in secret_keys]

    @staticmethod
    def _mac(key: bytes, text: str) -> str:
        digest = hmac.new(key, text.encode(), hashlib.sha256).digest()[:10]
        return base64.b32encode(digest).decode().lower()

    def address(self, *, ticket_id: int, user_id: int, public: bool, now: datetime) -> str:
        expiry = int((now + self.ttl).timestamp()) // _DAY
        text = f"{ticket_id}-{user_id}-{'p' if public else 'i'}{expiry}"
        return f"reply+{text}-{self._mac(self._keys[0], text)}@{self.domain}"

    def is_ours(self, address: str) -> bool:
        """Whether an address has our shape and domain (checked at SMTP RCPT time)."""
        match = _ADDRESS.match(address.strip().lower())
        return match is not None and match["domain"] == self.domain

    def verify(self, address: str, *, now: datetime) -> ReplyClaims:
        match = _ADDRESS.match(address.strip().lower())
        if match is None or match["domain"] != self.domain:
            raise BadReplyAddress("not a reply address of this desk")
        text = f"{match['ticket']}-{match['user']}-{match['kind']}{match['expiry']}"
        if not any(hmac.compare_digest(match["mac"], self._mac(k, text)) for k in self._keys):
            raise BadReplyAddress("forged or altered reply address")
        if now.timestamp() >= int(match["expiry"]) * _DAY + _DAY:
            raise BadReplyAddress("expired reply address")
        return ReplyClaims(int(match["ticket"]), int(match["user"]), match["kind"] == "p")

    def find(self, addresses: Iterable[str], *, now: datetime) -> ReplyClaims | None:
        """The claims of the first of `addresses` that is ours; None when none has our shape.

        Raises BadReplyAddress when one has our shape but does not verify.
        """
        for address in addresses:
            if self.is_ours(address):
                return self.verify(address, now=now)
        return None


def reply_addresses(settings: Settings) -> ReplyAddresses | None:
    """The reply addresses of this deployment; None when SOCIALDESK_REPLY_DOMAIN is unset."""
    if not settings.reply_domain:
        return None
    return ReplyAddresses(
        key_ring(settings.require_secret_key()),
        domain=settings.reply_domain,
        ttl=timedelta(days=settings.reply_ttl_days),
    )
