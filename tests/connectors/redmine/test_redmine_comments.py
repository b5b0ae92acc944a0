"""`add_comment`: read-back, visibility and idempotency (shared/peers/redmine/README.md § Add a
public note / a private (internal) note, § Quirks worth a test: silent ignores)."""

from __future__ import annotations

import json

import pytest

from connectors.base import ChangeKind, Visibility, WriteNotApplied
from connectors.redmine.comments import marker, split_marker, with_marker
from tests.connectors.fake_support import drain
from tests.connectors.redmine.fake_redmine import FakeRedmine, empty, make_connector


def one_issue() -> FakeRedmine:
    fake = FakeRedmine()
    fake.create("VPN does not connect")
    return fake


def puts(fake: FakeRedmine) -> list[dict[str, object]]:
    return [json.loads(r.content) for r in fake.requests if r.method == "PUT"]


class TestWrite:
    async def test_public_note_returns_its_journal_id(self) -> None:
        fake = one_issue()
        journal_id = await make_connector(fake).add_comment(
            "1", "Please reinstall the profile.", Visibility.PUBLIC, "msg-1"
        )
        journal = fake.issues[1]["journals"][-1]
        assert journal_id == str(journal["id"])
        assert journal["private_notes"] is False
        assert journal["notes"] == "Please reinstall the profile.\n\n— via Socialdesk [sd:msg-1]"
        assert puts(fake) == [{"issue": {"notes": journal["notes"], "private_notes": False}}]

    async def test_internal_note_is_private(self) -> None:
        fake = one_issue()
        await make_connector(fake).add_comment("1", "vpn-02 rebooted", Visibility.INTERNAL, "m2")
        assert fake.issues[1]["journals"][-1]["private_notes"] is True

    async def test_retry_returns_the_first_write(self) -> None:
        fake = one_issue()
        connector = make_connector(fake)
        first = await connector.add_comment("1", "Hello", Visibility.PUBLIC, "msg-1")
        again = await connector.add_comment("1", "Hello", Visibility.PUBLIC, "msg-1")
        assert first == again
        assert len(puts(fake)) == 1
        assert len(fake.issues[1]["journals"]) == 1

    async def test_our_note_comes_back_recognizable(self) -> None:
        fake = one_issue()
        connector = make_connector(fake)
        journal_id = await connector.add_comment("1", "Hello", Visibility.INTERNAL, "msg-1")
        fake.tick(10)
        changes, _ = await drain(connector, None)
        note = next(c for c in changes if c.kind is ChangeKind.COMMENTED)
        assert note.external_comment_id == journal_id
        assert note.body == "Hello"
        assert note.payload["socialdesk_idempotency_key"] == "msg-1"


class TestReadBack:
    async def test_silently_ignored_write_is_reported(self) -> None:
        fake = one_issue()
        fake.ignore_writes = True  # 204, nothing stored
        with pytest.raises(WriteNotApplied, match="did not store it"):
            await make_connector(fake).add_comment("1", "Hello", Visibility.PUBLIC, "k")

    async def test_internal_note_is_refused_before_writing_without_permission(self) -> None:
        fake = one_issue()
        with pytest.raises(WriteNotApplied, match="set_notes_private"):
            await make_connector(fake, key="user-key").add_comment(
                "1", "secret", Visibility.INTERNAL, "k"
            )
        assert puts(fake) == []

    async def test_internal_note_stored_public_is_reported(self) -> None:
        # When the key's roles cannot be read, only the read-back can tell.
        fake = one_issue()
        fake.faults["/roles/5.json"] = empty(403)
        with pytest.raises(WriteNotApplied, match=r"as PUBLIC.*remove it by hand"):
            await make_connector(fake, key="user-key").add_comment(
                "1", "secret", Visibility.INTERNAL, "k"
            )
        assert fake.issues[1]["journals"][-1]["private_notes"] is False

    async def test_leaked_note_is_removed_when_the_key_may(self) -> None:
        fake = one_issue()
        fake.faults["/roles/5.json"] = empty(403)
        fake.roles[5].append("edit_own_issue_notes")
        with pytest.raises(WriteNotApplied, match="it was removed again"):
            await make_connector(fake, key="user-key").add_comment(
                "1", "secret", Visibility.INTERNAL, "k"
            )
        assert fake.issues[1]["journals"] == []

    async def test_retry_after_a_wrong_visibility_still_fails(self) -> None:
        fake = one_issue()
        fake.journal(1, 6, notes=with_marker("secret", "k"), private_notes=False)
        with pytest.raises(WriteNotApplied, match="as PUBLIC"):
            await make_connector(fake).add_comment("1", "secret", Visibility.INTERNAL, "k")
        assert puts(fake) == []

    async def test_another_users_note_with_our_marker_counts_as_written(self) -> None:
        # The marker names the idempotency key: whoever wrote it, it is that message.
        fake = one_issue()
        journal = fake.journal(1, 6, notes=with_marker("Hi", "k"))
        got = await make_connector(fake).add_comment("1", "Hi", Visibility.PUBLIC, "k")
        assert got == str(journal["id"])


class TestMarker:
    def test_round_trip(self) -> None:
        assert split_marker(with_marker("Hello  \n", "abc-1")) == ("Hello", "abc-1")

    def test_text_without_marker(self) -> None:
        assert split_marker("Hello [sd:x]") == ("Hello [sd:x]", None)

    def test_unusual_keys_are_digested(self) -> None:
        line = marker("client msg #7 / ü")
        assert line.startswith("— via Socialdesk [sd:")
        assert "#" not in line
        assert split_marker("x\n\n" + line)[1] is not None

    def test_trailing_whitespace_added_by_the_system(self) -> None:
        assert split_marker(with_marker("Hi", "k") + "\r\n\r\n") == ("Hi", "k")
