"""Verifying a Zendesk webhook request (contracts/zendesk/README.md § 8), pure and clock-free.

Zendesk signs with the webhook's secret: `X-Zendesk-Webhook-Signature` is
`base64(HMACSHA256(TIMESTAMP + BODY))`, the timestamp being the
`X-Zendesk-Webhook-Signature-Timestamp` header (ISO 8601, `2021-07-25T10:00:00Z`). The
secret is used as its UTF-8 text, not base64-decoded.

The contract notes a discrepancy: an older copy of Zendesk's page writes the order as
BODY + TIMESTAMP, and its test vector matches that order. This follows the current page
(timestamp first) and accepts only that order, so one signature never covers two readings
of the same bytes; the tests pin both computations. A timestamp older or newer than
`tolerance` is refused as a replay (the tolerance is ours; Zendesk documents none).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from connectors.base import AuthError

SIGNATURE = "X-Zendesk-Webhook-Signature"
TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
TOLERANCE = timedelta(minutes=5)


class WebhookRefused(AuthError):
    """The request is not signed by Zendesk with this secret (or is too old)."""

    code = "webhook_refused"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature Zendesk sends for this timestamp and body (current page's order)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), "").strip()


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise WebhookRefused("the webhook's signature timestamp is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise WebhookRefused("the webhook's signature timestamp has no time zone")
    return moment.astimezone(UTC)


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance: timedelta = TOLERANCE,
) -> datetime:
    """Check the signature and its timestamp; returns the signing time or raises."""
    if not secret:
        raise WebhookRefused("no webhook_secret is configured for this Zendesk connector")
    signature, timestamp = _header(headers, SIGNATURE), _header(headers, TIMESTAMP)
    if not signature or not timestamp:
        raise WebhookRefused(f"the request has no {SIGNATURE} and {TIMESTAMP} headers")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise WebhookRefused("the webhook's signature does not match its body and timestamp")
    signed_at = _parse_time(timestamp)
    if abs(now - signed_at) > tolerance:
        raise WebhookRefused("the webhook's signature timestamp is too old or in the future")
    return signed_at
