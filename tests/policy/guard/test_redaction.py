"""Redaction detectors, profiles, false positives, and the public-approval helper."""

from __future__ import annotations

import pytest

from app.policy.engine.document import CustomPattern
from app.policy.guard.redaction import must_hold_for_approval, redact

DOMAINS = ["corp.example.com", "internal"]


def _standard(text: str) -> str:
    return redact(text, "standard", DOMAINS).text


DETECTED = [
    ("ipv4", "ping 10.0.0.12 now", "ping [IP address] now"),
    ("ipv4 with port", "on 192.168.1.20:8080.", "on [IP address]:8080."),
    ("ipv6", "route to 2001:db8::ff00:42:8329 fails", "route to [IP address] fails"),
    ("ipv6 loopback", "bind ::1 only", "bind [IP address] only"),
    ("ipv6 mapped", "from ::ffff:10.1.2.3 ok", "from [IP address] ok"),
    ("ipv6 in brackets", "http://[fe80::1%eth0]:80/", "http://[[IP address]]:80/"),
    ("internal host", "restart db01.corp.example.com.", "restart [internal host]."),
    ("internal host in url", "https://wiki.corp.example.com/x", "https://[internal host]/x"),
    ("bare internal domain", "see CORP.example.com", "see [internal host]"),
    ("single-label domain", "call ldap.internal today", "call [internal host] today"),
    ("aws key", "key AKIAIOSFODNN7EXAMPLE leaked", "key [secret] leaked"),
    ("github token", "ghp_" + "x" * 36, "[secret]"),
    ("github pat", "github_pat_" + "A1_" * 10, "[secret]"),
    ("slack token", "xoxb-1234567890-abcdefghijkl", "[secret]"),
    ("slack webhook", "https://hooks.slack.com/services/T0/B0/XyZ", "[secret]"),
    ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU", "[secret]"),
    ("bearer", "Authorization: Bearer abc.def-123_456", "Authorization: Bearer [secret]"),
    ("password=", "password=hunter22 done", "password=[secret] done"),
    ("passwd:", "passwd: 'x9!kq' then", "passwd: '[secret]' then"),
    ("env var", "DB_PASSWORD=s3cret", "DB_PASSWORD=[secret]"),
    ("aws secret", "aws_secret_access_key = wJalrXUtnFEMI", "aws_secret_access_key = [secret]"),
    ("query token", "GET /x?token=abcd1234&y=1", "GET /x?token=[secret]&y=1"),
    ("url password", "git clone https://bob:pa55@git.example.org/r",
     "git clone https://[credentials]@git.example.org/r"),
    ("pem", "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n"
     "-----END OPENSSH PRIVATE KEY-----\nok", "key:\n[private key]\nok"),
    ("unterminated pem", "-----BEGIN PRIVATE KEY-----\nMIIE...", "[private key]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"), [d[1:] for d in DETECTED], ids=[d[0] for d in DETECTED]
)
def test_each_detector(text: str, expected: str) -> None:
    assert _standard(text) == expected


UNTOUCHED = [
    ("prose", "The printer on floor 3 is fixed; thanks for your patience."),
    ("version run", "Upgrade to 1.2.3.4.5 tomorrow"),
    ("semver", "Released 2.14.0 and 10.2"),
    ("clock time", "Back at 12:30:45 today"),
    ("iso timestamp", "since 2025-03-04T10:00:00Z"),
    ("mac address", "nic 00:1a:2b:3c:4d:5e replaced"),
    ("word internal", "This is an internal matter"),
    ("lookalike domain", "see notcorp.example.com and corp.example.community"),
    ("password talk", "Your password has been reset; choose a new password."),
    ("email under standard", "write to alice@example.org"),
    ("bearer word", "the bearer of bad news"),
    ("octets out of range", "code 999.1.1.1 is not an address"),
]


@pytest.mark.parametrize("text", [u[1] for u in UNTOUCHED], ids=[u[0] for u in UNTOUCHED])
def test_normal_text_is_untouched(text: str) -> None:
    result = redact(text, "standard", DOMAINS)
    assert (result.text, result.findings) == (text, ())


class TestProfiles:
    TEXT = "Mail alice@example.org about 10.0.0.1 and token=abc123def"

    def test_none_changes_nothing(self) -> None:
        assert redact(self.TEXT, "none", DOMAINS).text == self.TEXT

    def test_standard_keeps_email_addresses(self) -> None:
        assert (
            _standard(self.TEXT) == "Mail alice@example.org about [IP address] and token=[secret]"
        )

    def test_strict_hides_email_addresses_too(self) -> None:
        result = redact(self.TEXT, "strict", DOMAINS)
        assert result.text == "Mail [email address] about [IP address] and token=[secret]"
        assert [f.kind for f in result.findings] == ["email", "ipv4", "secret"]

    def test_an_internal_mailbox_under_standard_keeps_its_user_but_not_its_host(self) -> None:
        assert _standard("ask ops@db01.corp.example.com") == "ask ops@[internal host]"


class TestFindings:
    def test_spans_point_into_the_original_text(self) -> None:
        text = "at 10.0.0.1 and db01.corp.example.com"
        findings = redact(text, "standard", DOMAINS).findings
        assert [text[f.start : f.end] for f in findings] == ["10.0.0.1", "db01.corp.example.com"]

    def test_a_finding_never_carries_the_secret(self) -> None:
        result = redact("password=hunter2hunter2", "strict", DOMAINS)
        assert "hunter2" not in repr(result.findings)
        assert "hunter2" not in repr(result)

    def test_overlaps_merge_under_the_most_sensitive_label(self) -> None:
        result = redact("https://u:p@10.0.0.1/x", "strict", DOMAINS)
        assert result.text == "https://[credentials]@[IP address]/x"
        text = "token=10.0.0.1"  # the value is both an address and a secret
        assert redact(text, "standard", DOMAINS).text == "token=[secret]"


ASSET_TAGS = (CustomPattern(name="asset_tag", pattern=r"\bAT-\d{6}\b", label="[asset tag]"),)


class TestCustomPatterns:
    def test_custom_patterns_apply_with_their_label(self) -> None:
        result = redact("laptop AT-123456 broke", "standard", [], ASSET_TAGS)
        assert result.text == "laptop [asset tag] broke"
        assert result.findings[0].kind == "custom:asset_tag"

    def test_custom_patterns_do_not_apply_to_staff(self) -> None:
        assert redact("AT-123456", "none", [], ASSET_TAGS).text == "AT-123456"


class TestHoldForApproval:
    def test_public_findings_hold_the_message(self) -> None:
        assert must_hold_for_approval("public", redact("at 10.0.0.1", "strict"))

    def test_clean_public_text_does_not_hold(self) -> None:
        assert not must_hold_for_approval("public", redact("Mail is slow", "strict"))

    def test_other_audiences_are_redacted_silently(self) -> None:
        assert not must_hold_for_approval("requester", redact("at 10.0.0.1", "standard"))
