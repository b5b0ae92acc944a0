"""`add_comment`: reply vs comment, read-back and idempotency (shared/peers/rt/README.md
§ Public reply vs internal comment, § Errors: comment without the right is a 400,
§ Other quirks: scrips write mail copies of every message)."""

from __future__ import annotations

import json

import pytest

from connectors.base import AuthError, ChangeKind, NotFound, Visibility, WriteNotApplied
from connectors.rt.comments import with_marker
from tests.connectors.fake_support import drain
from tests.connectors.rt.fake_rt import FakeRT, make_connector


def one_ticket() -> FakeRT:
    fake = FakeRT()
    fake.add_ticket(1, "VPN does not connect", ["customer"])
    return fake


def posts(fake: FakeRT) -> list[tuple[str, dict[str, object]]]:
    return [(r.url.path, json.loads(r.content)) for r in fake.requests if r.method == "POST"]


class TestWrite:
    async def test_public_reply_is_a_correspond(self) -> None:
        fake = one_ticket()
        txn_id = await make_connector(fake).add_comment(
            "1", "Please reinstall the VPN profile.", Visibility.PUBLIC, "msg-1"
        )
        txn = next(t for t in fake.txns if t["Type"] == "Correspond")
        assert txn_id == str(txn["id"])
        body = "Please reinstall the VPN profile.\n\n— via Socialdesk [sd:msg-1]"
        assert posts(fake) == [
            ("/REST/2.0/ticket/1/correspond", {"Content": body, "ContentType": "text/plain"})
        ]

    async def test_internal_note_is_a_comment(self) -> None:
        fake = one_ticket()
        txn_id = await make_connector(fake).add_comment(
            "1", "cert rotated", Visibility.INTERNAL, "k"
        )
        txn = next(t for t in fake.txns if str(t["id"]) == txn_id)
        assert txn["Type"] == "Comment"
        assert posts(fake)[0][0] == "/REST/2.0/ticket/1/comment"

    async def test_retry_returns_the_first_write_not_its_mail_copy(self) -> None:
        fake = one_ticket()
        connector = make_connector(fake)
        first = await connector.add_comment("1", "Hello", Visibility.PUBLIC, "msg-1")
        again = await connector.add_comment("1", "Hello", Visibility.PUBLIC, "msg-1")
        assert first == again
        assert len(posts(fake)) == 1
        assert next(t["Type"] for t in fake.txns if str(t["id"]) == first) == "Correspond"

    async def test_our_reply_comes_back_recognizable(self) -> None:
        fake = one_ticket()
        connector = make_connector(fake)
        txn_id = await connector.add_comment("1", "Hello", Visibility.INTERNAL, "msg-1")
        changes, _ = await drain(connector, None)
        note = next(c for c in changes if c.kind is ChangeKind.COMMENTED)
        assert (note.external_comment_id, note.body, note.visibility) == (
            txn_id,
            "Hello",
            Visibility.INTERNAL,
        )
        assert note.payload["socialdesk_idempotency_key"] == "msg-1"


class TestReadBack:
    async def test_acknowledged_but_missing_write_is_reported(self) -> None:
        fake = one_ticket()
        fake.ignore_writes = True  # 201 ["Correspondence added"], nothing stored
        with pytest.raises(WriteNotApplied, match="not in the history"):
            await make_connector(fake).add_comment("1", "Hello", Visibility.PUBLIC, "k")

    async def test_wrong_visibility_is_reported(self) -> None:
        fake = one_ticket()
        fake.message(1, "Comment", "agent", with_marker("Hello", "k"))
        with pytest.raises(WriteNotApplied, match="as a Comment, not a Correspond"):
            await make_connector(fake).add_comment("1", "Hello", Visibility.PUBLIC, "k")
        assert posts(fake) == []

    async def test_comment_without_the_right_is_an_auth_error(self) -> None:
        # RT answers 400 "Permission Denied" here, not 403.
        with pytest.raises(AuthError, match="may not comment"):
            await make_connector(one_ticket(), token="user-token").add_comment(
                "1", "secret", Visibility.INTERNAL, "k"
            )

    async def test_customer_reply_is_found_despite_hidden_comments(self) -> None:
        fake = one_ticket()
        fake.message(1, "Comment", "agent", "internal only")
        connector = make_connector(fake, token="user-token")
        txn_id = await connector.add_comment("1", "Thanks", Visibility.PUBLIC, "k")
        assert next(t["Creator"] for t in fake.txns if str(t["id"]) == txn_id) == "customer"

    async def test_not_a_ticket_id(self) -> None:
        with pytest.raises(NotFound, match="not an RT ticket id"):
            await make_connector(one_ticket()).add_comment("1; DROP", "x", Visibility.PUBLIC, "k")


async def test_get_ticket() -> None:
    fake = one_ticket()
    fake.message(1, "Correspond", "agent", "first reply")
    snap = await make_connector(fake).get_ticket("1")
    assert (snap.title, snap.status, snap.requester and snap.requester.email) == (
        "VPN does not connect",
        "open",
        "customer@example.com",
    )
