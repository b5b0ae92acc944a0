"""Webhook signature verification (contracts/zendesk/README.md § 8 Signature)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from connectors.zendesk.webhook import SIGNATURE, TIMESTAMP, WebhookRefused, sign, verify

# § 8's test vector (from the older copy of Zendesk's page).
SECRET = "HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA="
BODY = b'{"say": "hello"}'
STAMP = "2021-07-25T10:00:00Z"
PUBLISHED = "tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw="
TIMESTAMP_FIRST = "Rry/4TtIdFyawtXXp8QdI6tlAUUQ/5kL1OTp5qo/ZIk="  # the contract's recomputation
NOW = datetime(2021, 7, 25, 10, 1, 0, tzinfo=UTC)


def headers(signature: str, stamp: str = STAMP) -> dict[str, str]:
    return {SIGNATURE: signature, TIMESTAMP: stamp}


class TestSign:
    def test_the_current_order_is_timestamp_then_body(self) -> None:
        assert sign(SECRET, STAMP, BODY) == TIMESTAMP_FIRST

    def test_the_published_vector_is_body_then_timestamp(self) -> None:
        # The key handling (the secret as UTF-8 text) reproduces the published value; only
        # the documented order differs (see webhook.py).
        digest = hmac.new(SECRET.encode(), BODY + STAMP.encode(), hashlib.sha256).digest()
        assert base64.b64encode(digest).decode() == PUBLISHED


class TestVerify:
    def test_a_signed_request_passes(self) -> None:
        at = verify(SECRET, headers(TIMESTAMP_FIRST), BODY, now=NOW)
        assert at == datetime(2021, 7, 25, 10, 0, 0, tzinfo=UTC)

    def test_header_names_are_case_insensitive(self) -> None:
        lower = {k.lower(): v for k, v in headers(TIMESTAMP_FIRST).items()}
        verify(SECRET, lower, BODY, now=NOW)

    @pytest.mark.parametrize(
        ("secret", "given", "body", "words"),
        [
            ("other-secret", headers(TIMESTAMP_FIRST), BODY, "does not match"),
            (SECRET, headers(TIMESTAMP_FIRST), b'{"say": "bye"}', "does not match"),
            (SECRET, headers(PUBLISHED), BODY, "does not match"),  # the other order
            (SECRET, headers(TIMESTAMP_FIRST, "2021-07-25T10:00:01Z"), BODY, "does not match"),
            (SECRET, {}, BODY, "has no"),
            ("", headers(TIMESTAMP_FIRST), BODY, "no webhook_secret"),
        ],
    )
    def test_refusals(self, secret: str, given: dict[str, str], body: bytes, words: str) -> None:
        with pytest.raises(WebhookRefused, match=words):
            verify(secret, given, body, now=NOW)

    def test_an_old_signature_is_a_replay(self) -> None:
        with pytest.raises(WebhookRefused, match="too old"):
            verify(SECRET, headers(TIMESTAMP_FIRST), BODY, now=NOW + timedelta(minutes=10))

    def test_a_body_less_request(self) -> None:
        stamp = "2021-07-25T10:00:30Z"
        verify(SECRET, headers(sign(SECRET, stamp, b""), stamp), b"", now=NOW)
