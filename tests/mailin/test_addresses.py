"""Reply addresses: what they claim cannot be guessed, altered, moved or kept forever."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.kit.clock import utcnow
from app.mailin.addresses import BadReplyAddress, ReplyAddresses

KEY = "reply-test-key-" + "k" * 32
NOW = utcnow()


def addresses(key: str = KEY, ttl_days: int = 90) -> ReplyAddresses:
    return ReplyAddresses([key], domain="Reply.Desk.Example", ttl=timedelta(days=ttl_days))


def test_an_address_says_ticket_recipient_and_whether_the_mail_was_public() -> None:
    made = addresses().address(ticket_id=42, user_id=7, public=False, now=NOW)
    assert made.endswith("@reply.desk.example")
    assert len(made.partition("@")[0]) <= 64  # RFC 5321's limit on a local part
    claims = addresses().verify(made, now=NOW)
    assert (claims.ticket_id, claims.user_id, claims.public) == (42, 7, False)
    public = addresses().address(ticket_id=42, user_id=7, public=True, now=NOW)
    assert addresses().verify(public, now=NOW).public is True


def test_an_address_survives_case_folding_by_mail_systems() -> None:
    made = addresses().address(ticket_id=42, user_id=7, public=True, now=NOW)
    assert addresses().verify(made.upper(), now=NOW).ticket_id == 42


@pytest.mark.parametrize(
    ("old", "new"),
    [("reply+42-", "reply+43-"), ("-7-", "-8-"), ("-i", "-p")],
    ids=["another ticket", "another recipient", "internal made public"],
)
def test_an_altered_address_is_refused(old: str, new: str) -> None:
    made = addresses().address(ticket_id=42, user_id=7, public=False, now=NOW)
    altered = made.replace(old, new, 1)
    assert altered != made
    with pytest.raises(BadReplyAddress, match="forged"):
        addresses().verify(altered, now=NOW)


def test_an_address_made_with_another_key_is_refused() -> None:
    theirs = addresses("another-key-" + "z" * 32).address(
        ticket_id=42, user_id=7, public=True, now=NOW
    )
    with pytest.raises(BadReplyAddress, match="forged"):
        addresses().verify(theirs, now=NOW)


def test_an_address_expires_after_its_ttl() -> None:
    made = addresses(ttl_days=3).address(ticket_id=42, user_id=7, public=True, now=NOW)
    assert addresses().verify(made, now=NOW + timedelta(days=2)).ticket_id == 42
    with pytest.raises(BadReplyAddress, match="expired"):
        addresses().verify(made, now=NOW + timedelta(days=5))


def test_addresses_of_other_domains_or_shapes_are_not_ours() -> None:
    made = addresses().address(ticket_id=42, user_id=7, public=True, now=NOW)
    assert addresses().is_ours(made)
    assert not addresses().is_ours(made.replace("reply.desk.example", "evil.example"))
    assert not addresses().is_ours("support@reply.desk.example")
    with pytest.raises(BadReplyAddress):
        addresses().verify("reply+1-2-p1-aaaaaaaaaaaaaaaa@evil.example", now=NOW)
