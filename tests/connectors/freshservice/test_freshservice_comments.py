"""`add_comment` and `get_ticket`: a public reply or a private note with the visibility
explicit, read back, idempotent, ignored writes detected, and an internal message never
written or left public (contracts/freshservice/README.md § 2, § 3)."""

from __future__ import annotations

import json

import pytest

from connectors.base import AuthError, ConnectorError, NotFound, Visibility, WriteNotApplied
from connectors.freshservice.comments import marker, split_marker
from tests.connectors.fake_support import drain
from tests.connectors.freshservice.fake import AGENT, HR, FakeFreshservice, error, make_connector


def one_ticket() -> tuple[FakeFreshservice, int]:
    fake = FakeFreshservice()
    return fake, fake.create("VPN does not connect")["id"]


def posts(fake: FakeFreshservice) -> list[tuple[str, dict[str, object]]]:
    return [
        (r.url.path.rsplit("/", 1)[1], json.loads(r.content))
        for r in fake.requests
        if r.method == "POST"
    ]


def ours(fake: FakeFreshservice, ticket_id: int) -> list[dict[str, object]]:
    return [c for c in fake.conversations[ticket_id] if "[sd:" in str(c["body"])]


class TestWrite:
    async def test_public_message_becomes_a_reply(self) -> None:
        fake, ticket_id = one_ticket()
        comment_id = await make_connector(fake).add_comment(
            str(ticket_id),
            "Please reinstall the <profile>.\nThen reboot.",
            Visibility.PUBLIC,
            "chat:7",
        )
        [stored] = ours(fake, ticket_id)
        assert comment_id == str(stored["id"])
        assert (stored["private"], stored["user_id"]) == (False, AGENT)
        [(endpoint, body)] = posts(fake)
        assert endpoint == "reply"
        assert body == {
            "body": "<div>Please reinstall the &lt;profile&gt;.<br>Then reboot.</div>"
            "<div><br></div><div>— via Socialdesk [sd:chat:7]</div>"
        }

    async def test_internal_message_becomes_a_note_with_private_true(self) -> None:
        fake, ticket_id = one_ticket()
        comment_id = await make_connector(fake).add_comment(
            str(ticket_id), "vpn-02 again", Visibility.INTERNAL, "chat:8"
        )
        [stored] = ours(fake, ticket_id)
        assert (comment_id, stored["private"]) == (str(stored["id"]), True)
        [(endpoint, body)] = posts(fake)
        assert endpoint == "notes"
        assert body["private"] is True  # explicit, though Freshservice defaults to true

    async def test_a_retry_finds_the_first_write(self) -> None:
        fake, ticket_id = one_ticket()
        connector = make_connector(fake)
        first = await connector.add_comment(str(ticket_id), "Hi", Visibility.PUBLIC, "chat:9")
        again = await connector.add_comment(str(ticket_id), "Hi", Visibility.PUBLIC, "chat:9")
        assert first == again
        assert len(posts(fake)) == 1

    async def test_a_retry_after_a_lost_answer_does_not_write_twice(self) -> None:
        fake, ticket_id = one_ticket()
        connector = make_connector(fake)
        fake.faults[f"/api/v2/tickets/{ticket_id}/notes"] = error(502, "Bad gateway")
        with pytest.raises(ConnectorError):
            await connector.add_comment(str(ticket_id), "x", Visibility.INTERNAL, "chat:10")
        del fake.faults[f"/api/v2/tickets/{ticket_id}/notes"]
        # The write got through on Freshservice's side although the answer was lost.
        fake.note(ticket_id, "x\n\n" + marker("chat:10"), by=AGENT)
        written = await connector.add_comment(str(ticket_id), "x", Visibility.INTERNAL, "chat:10")
        assert written == str(ours(fake, ticket_id)[0]["id"])
        assert len(ours(fake, ticket_id)) == 1

    async def test_an_ignored_write_is_detected(self) -> None:
        fake, ticket_id = one_ticket()
        fake.drop_writes = True
        with pytest.raises(WriteNotApplied, match="shows no such conversation"):
            await make_connector(fake).add_comment(
                str(ticket_id), "Hi", Visibility.PUBLIC, "chat:11"
            )

    async def test_a_reply_stored_private_is_reported(self) -> None:
        fake, ticket_id = one_ticket()
        fake.store_reply_private = True
        with pytest.raises(WriteNotApplied, match="as a private note"):
            await make_connector(fake).add_comment(
                str(ticket_id), "Hi", Visibility.PUBLIC, "chat:12"
            )


class TestInternalNeverPublic:
    async def test_a_note_stored_public_loses_its_text_and_is_reported(self) -> None:
        fake, ticket_id = one_ticket()
        fake.ignore_private = True
        connector = make_connector(fake)
        with pytest.raises(WriteNotApplied, match=r"as public .*its text was removed"):
            await connector.add_comment(str(ticket_id), "root pw", Visibility.INTERNAL, "k:1")
        [stored] = ours(fake, ticket_id)
        assert "root pw" not in json.dumps(stored)
        # A retry finds the redacted note by its key and never writes the text again.
        with pytest.raises(WriteNotApplied):
            await connector.add_comment(str(ticket_id), "root pw", Visibility.INTERNAL, "k:1")
        assert [e for e, _ in posts(fake)] == ["notes"]

    async def test_told_loudly_when_it_can_be_neither_edited_nor_deleted(self) -> None:
        fake, ticket_id = one_ticket()
        fake.ignore_private = True
        fake.faults["/api/v2/conversations/21004158800"] = error(405, "Method not allowed")
        connector = make_connector(fake)
        # The fault answers every method, so neither edit nor delete works: told loudly.
        with pytest.raises(WriteNotApplied, match="remove it in Freshservice now"):
            await connector.add_comment(str(ticket_id), "secret", Visibility.INTERNAL, "k:2")

    async def test_a_refused_note_is_never_sent_as_a_reply(self) -> None:
        fake, ticket_id = one_ticket()
        fake.faults[f"/api/v2/tickets/{ticket_id}/notes"] = error(403, "Access denied")
        with pytest.raises(AuthError, match="never sends an internal note any other way"):
            await make_connector(fake).add_comment(
                str(ticket_id), "secret", Visibility.INTERNAL, "k:3"
            )
        assert [e for e, _ in posts(fake)] == ["notes"]
        assert fake.conversations[ticket_id] == []


class TestOwnWritesComeBack:
    async def test_the_marker_is_recognized_and_stripped(self) -> None:
        fake, ticket_id = one_ticket()
        connector = make_connector(fake)
        await connector.add_comment(str(ticket_id), "Reboot please", Visibility.PUBLIC, "chat:3")
        changes, _ = await drain(connector, None)
        [ours_back] = [c for c in changes if c.external_comment_id]
        assert ours_back.payload["socialdesk_idempotency_key"] == "chat:3"
        assert ours_back.body == "Reboot please"

    def test_a_signature_after_the_marker_is_kept_apart(self) -> None:
        text, key = split_marker("Hi — via Socialdesk [sd:chat:4] Regards, IT")
        assert (text, key) == ("Hi\n\nRegards, IT", "chat:4")


class TestGetTicket:
    async def test_snapshot(self) -> None:
        fake, ticket_id = one_ticket()
        snap = await make_connector(fake).get_ticket(str(ticket_id))
        assert (snap.title, snap.status) == ("VPN does not connect", "new")
        assert snap.requester is not None
        assert snap.requester.email == "rita@example.com"

    @pytest.mark.parametrize("external_id", ["999", "abc", "../agents/1"])
    async def test_missing(self, external_id: str) -> None:
        with pytest.raises(NotFound):
            await make_connector(FakeFreshservice()).get_ticket(external_id)

    async def test_another_workspace_is_missing(self) -> None:
        fake = FakeFreshservice()
        other = fake.create("Payroll", workspace=HR)
        with pytest.raises(NotFound):
            await make_connector(fake).add_comment(str(other["id"]), "Hi", Visibility.PUBLIC, "k:5")
        assert posts(fake) == []
