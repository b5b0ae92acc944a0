"""Status webhooks: a published status update as a signed JSON POST.

The body is the document the status domain composed (`app.status.webhooks.messages`)
with `meta.timestamp` set to the time of this attempt. Headers:

- `X-Socialdesk-Signature: sha256=<hex>`: HMAC-SHA256 of the raw request body, keyed with
  the webhook's secret (its UTF-8 bytes). Verify it over the bytes as received, before
  parsing, with a constant-time comparison.
- `X-Socialdesk-Timestamp: <Unix seconds>`: when this attempt was made; the same value is
  `meta.timestamp` inside the signed body, so a receiver can refuse old replays.
- `X-Socialdesk-Delivery: <id>`: the same on every retry of one update to one webhook;
  deduplicate on it (delivery is at-least-once).
- `X-Socialdesk-Event: status.update | status.resolved`.

Any non-2xx answer is a failure the relay retries with backoff; 410 Gone is final.
Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

import httpx

from app.notifications.channels import ChannelBase, DeliveryResult
from app.notifications.content import OutboundMessage, check_egress

SIGNATURE_HEADER = "X-Socialdesk-Signature"
TIMESTAMP_HEADER = "X-Socialdesk-Timestamp"


def signature(secret: str, body: bytes) -> str:
    """The `X-Socialdesk-Signature` value of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class StatusWebhookChannel(ChannelBase):
    key: ClassVar[str] = "status_webhook"

    def __init__(self, http: httpx.AsyncClient, *, clock: Callable[[], float] = time.time) -> None:
        self.http = http
        self.clock = clock

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        check_egress(message)
        target, document = message.target, message.document
        if target is None or not target.url or not target.secret or document is None:
            return DeliveryResult.failed("the webhook has no URL, secret or body", permanent=True)
        timestamp = int(self.clock())
        meta: dict[str, Any] = {**document.get("meta", {}), "timestamp": timestamp}
        body = json.dumps({**document, "meta": meta}, separators=(",", ":")).encode()
        headers = {
            "content-type": "application/json",
            "user-agent": "Socialdesk-Status-Webhooks/1",
            SIGNATURE_HEADER: signature(target.secret, body),
            TIMESTAMP_HEADER: str(timestamp),
            "X-Socialdesk-Delivery": message.idempotency_key,
            "X-Socialdesk-Event": str(meta.get("event", "status.update")),
        }
        try:
            response = await self.http.post(
                target.url, content=body, headers=headers, follow_redirects=False
            )
        except httpx.HTTPError as exc:
            return DeliveryResult.failed(f"status webhook: {type(exc).__name__}: {exc}")
        if response.is_success:
            return DeliveryResult.sent(f"HTTP {response.status_code}")
        detail = f"HTTP {response.status_code} from the status webhook"
        return DeliveryResult.failed(detail, permanent=response.status_code == 410)
