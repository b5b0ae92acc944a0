"""The generic webhook: a signed JSON POST, Standard Webhooks style.

Headers: `webhook-id` (the delivery's idempotency key: the same on every retry, so the
receiver can drop duplicates), `webhook-timestamp` (Unix seconds) and `webhook-signature`:
`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`. A secret written `whsec_<base64>`
is used as those bytes (the Standard Webhooks form); any other secret as its UTF-8 bytes.
Any non-2xx answer is a failure the relay retries with backoff; 410 Gone is final.
Unless private destinations are allowed, a host that is or resolves to a private-network
address is refused before the request, a final failure. Redirects are not followed (one
could lead past that check).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

import httpx

from app.notifications.channels import ChannelBase, DeliveryResult
from app.notifications.channels.destinations import pinned_webhook
from app.notifications.content import OutboundMessage, check_egress, render_text


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a webhook secret."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def sign(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The `webhook-signature` header value for one message."""
    signed = webhook_id.encode() + b"." + timestamp.encode() + b"." + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def payload(message: OutboundMessage) -> dict[str, Any]:
    """The JSON body: what happened, already redacted for this recipient."""
    return {
        "type": "notification",
        "id": message.idempotency_key,
        "event_type": message.event_type,
        "subject": message.subject,
        "text": render_text(message),
        "link": message.link,
        "ticket_id": message.ticket_id,
        "digest": message.digest,
        "recipient": {"user_id": message.user_id},
        "sections": [
            {
                "event_type": s.event_type,
                "heading": s.heading,
                "text": s.text,
                "occurred_at": s.occurred_at.isoformat(),
            }
            for s in message.sections
        ],
    }


class WebhookChannel(ChannelBase):
    key: ClassVar[str] = "webhook"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
        allow_private: bool = False,
    ) -> None:
        self.http = http
        self.clock = clock
        self.allow_private = allow_private

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        check_egress(message)
        target = message.target
        if target is None or not target.secret:
            return DeliveryResult.failed("the webhook has no URL or secret", permanent=True)
        url: httpx.URL | str = target.url
        extensions: dict[str, str] = {}
        headers: dict[str, str] = {}
        if not self.allow_private:
            pinned = await pinned_webhook(target.url)
            if isinstance(pinned, DeliveryResult):
                return pinned
            url, headers["host"] = pinned.url, pinned.host_header
            if pinned.url.scheme == "https":
                extensions["sni_hostname"] = pinned.server_name
        body = json.dumps(payload(message), separators=(",", ":")).encode()
        timestamp = str(int(self.clock()))
        headers |= {
            "content-type": "application/json",
            "user-agent": "Socialdesk-Webhooks/1",
            "webhook-id": message.idempotency_key,
            "webhook-timestamp": timestamp,
            "webhook-signature": sign(target.secret, message.idempotency_key, timestamp, body),
        }
        try:
            response = await self.http.post(
                url, content=body, headers=headers, follow_redirects=False, extensions=extensions
            )
        except httpx.HTTPError as exc:
            return DeliveryResult.failed(f"webhook: {type(exc).__name__}: {exc}")
        if response.is_success:
            return DeliveryResult.sent(f"HTTP {response.status_code}")
        detail = f"HTTP {response.status_code} from the webhook"
        return DeliveryResult.failed(detail, permanent=response.status_code == 410)
