"""`add_comment` and `get_ticket`: `public` always explicit, read-back, idempotency, ignored
writes, and an internal note never left public (contracts/zendesk/README.md § 2 the
`public` persistence rule and make_private, § 3 add a comment by updating the ticket)."""

from __future__ import annotations

import json

import pytest

from connectors.base import AuthError, ChangeKind, NotFound, Visibility, WriteNotApplied
from connectors.http import InvalidRequest
from connectors.zendesk.comments import marker, split_marker, with_marker
from tests.connectors.fake_support import drain
from tests.connectors.zendesk.fake import FakeZendesk, error, make_connector


def one_ticket(*, public: bool = True) -> tuple[FakeZendesk, int]:
    fake = FakeZendesk()
    return fake, fake.create("VPN does not connect", public=public)["id"]


def puts(fake: FakeZendesk) -> list[dict[str, object]]:
    return [
        json.loads(r.content)
        for r in fake.requests
        if r.method == "PUT" and not r.url.path.endswith("make_private")
    ]


def ours(fake: FakeZendesk, ticket_id: int) -> list[dict[str, object]]:
    return [c for c in fake.comments[ticket_id] if "[sd:" in str(c["body"])]


class TestWrite:
    async def test_public_message_becomes_a_public_comment(self) -> None:
        fake, ticket_id = one_ticket()
        comment_id = await make_connector(fake).add_comment(
            str(ticket_id), "Please reinstall the profile.", Visibility.PUBLIC, "chat:7"
        )
        [comment] = ours(fake, ticket_id)
        assert comment_id == str(comment["id"])
        assert comment["public"] is True
        assert comment["body"] == "Please reinstall the profile.\n\n— via Socialdesk [sd:chat:7]"
        assert comment["author_id"] == 338231444
        assert puts(fake) == [{"ticket": {"comment": {"body": comment["body"], "public": True}}}]
        [put] = [r for r in fake.requests if r.method == "PUT"]
        assert (put.url.path, put.headers["Content-Type"]) == (
            f"/api/v2/tickets/{ticket_id}.json",
            "application/json",
        )

    async def test_internal_message_sends_public_false(self) -> None:
        fake, ticket_id = one_ticket()
        await make_connector(fake).add_comment(
            str(ticket_id), "vpn-02 rebooted", Visibility.INTERNAL, "chat:8"
        )
        assert [c["public"] for c in ours(fake, ticket_id)] == [False]
        assert puts(fake)[0] == {
            "ticket": {
                "comment": {"body": with_marker("vpn-02 rebooted", "chat:8"), "public": False}
            }
        }

    async def test_public_is_explicit_even_on_a_ticket_opened_privately(self) -> None:
        # § 2: without `public`, a comment would take the ticket's first value.
        fake, ticket_id = one_ticket(public=False)
        await make_connector(fake).add_comment(str(ticket_id), "Hi", Visibility.PUBLIC, "chat:9")
        assert [c["public"] for c in ours(fake, ticket_id)] == [True]

    async def test_a_retry_with_the_key_writes_nothing_new(self) -> None:
        fake, ticket_id = one_ticket()
        first = await make_connector(fake).add_comment(
            str(ticket_id), "Hi", Visibility.PUBLIC, "chat:10"
        )
        again = await make_connector(fake).add_comment(
            str(ticket_id), "Hi", Visibility.PUBLIC, "chat:10"
        )
        assert first == again
        assert len(puts(fake)) == 1
        assert len(ours(fake, ticket_id)) == 1

    async def test_our_comment_comes_back_recognizable(self) -> None:
        fake, ticket_id = one_ticket()
        connector = make_connector(fake)
        fake.tick(61)
        _, cursor = await drain(connector, None)
        comment_id = await connector.add_comment(
            str(ticket_id), "Hello", Visibility.INTERNAL, "chat:11"
        )
        fake.tick(61)
        changes, _ = await drain(connector, cursor)
        [note] = [c for c in changes if c.kind is ChangeKind.COMMENTED]
        assert note.external_comment_id == comment_id
        assert (note.body, note.visibility) == ("Hello", Visibility.INTERNAL)
        assert note.payload["socialdesk_idempotency_key"] == "chat:11"


class TestInternalNeverPublic:
    async def test_a_note_stored_public_is_made_private_and_reported(self) -> None:
        fake, ticket_id = one_ticket()
        fake.ignore_public_flag = True
        with pytest.raises(WriteNotApplied, match="made private again"):
            await make_connector(fake).add_comment(
                str(ticket_id), "secret", Visibility.INTERNAL, "chat:12"
            )
        assert [c["public"] for c in ours(fake, ticket_id)] == [False]

    async def test_when_it_cannot_be_made_private_the_admin_is_told(self) -> None:
        fake, ticket_id = one_ticket()
        fake.ignore_public_flag = fake.make_private_fails = True
        with pytest.raises(WriteNotApplied, match=r"as PUBLIC.*remove it"):
            await make_connector(fake).add_comment(
                str(ticket_id), "secret", Visibility.INTERNAL, "chat:13"
            )

    async def test_a_refused_private_note_is_not_sent_again_public(self) -> None:
        fake, ticket_id = one_ticket()
        fake.refuse_private = True
        with pytest.raises(InvalidRequest, match="422"):
            await make_connector(fake).add_comment(
                str(ticket_id), "secret", Visibility.INTERNAL, "chat:14"
            )
        assert [p["ticket"]["comment"]["public"] for p in puts(fake)] == [False]  # type: ignore[index]
        assert ours(fake, ticket_id) == []

    async def test_a_retry_finding_our_note_public_repairs_it(self) -> None:
        fake, ticket_id = one_ticket()
        fake.comment(ticket_id, with_marker("secret", "chat:15"), public=True, by=338231444)
        with pytest.raises(WriteNotApplied, match="made private again"):
            await make_connector(fake).add_comment(
                str(ticket_id), "secret", Visibility.INTERNAL, "chat:15"
            )
        assert puts(fake) == []
        assert [c["public"] for c in ours(fake, ticket_id)] == [False]


class TestIgnoredWrites:
    async def test_a_dropped_comment_is_reported(self) -> None:
        fake, ticket_id = one_ticket()
        fake.drop_comments = True
        with pytest.raises(WriteNotApplied, match="stored none"):
            await make_connector(fake).add_comment(
                str(ticket_id), "Hi", Visibility.PUBLIC, "chat:16"
            )
        assert len(puts(fake)) == 1

    async def test_a_public_comment_stored_internal_is_reported(self) -> None:
        fake, ticket_id = one_ticket()
        fake.comment(ticket_id, with_marker("Hi", "chat:17"), public=False, by=338231444)
        with pytest.raises(WriteNotApplied, match="as an internal note"):
            await make_connector(fake).add_comment(
                str(ticket_id), "Hi", Visibility.PUBLIC, "chat:17"
            )

    async def test_a_closed_ticket_refuses(self) -> None:
        fake, ticket_id = one_ticket()
        fake.update(ticket_id, status="closed")
        with pytest.raises(InvalidRequest, match="closed"):
            await make_connector(fake).add_comment(
                str(ticket_id), "Hi", Visibility.PUBLIC, "chat:18"
            )

    async def test_a_forbidden_write_is_an_auth_error(self) -> None:
        fake, ticket_id = one_ticket()
        fake.faults[f"/api/v2/tickets/{ticket_id}.json"] = error(403, "Forbidden", "No access")
        with pytest.raises(AuthError, match="403: Forbidden: No access"):
            await make_connector(fake).add_comment(
                str(ticket_id), "Hi", Visibility.PUBLIC, "chat:19"
            )


class TestFind:
    async def test_get_ticket(self) -> None:
        fake, ticket_id = one_ticket()
        snap = await make_connector(fake).get_ticket(str(ticket_id))
        assert (snap.external_id, snap.title, snap.status) == (
            str(ticket_id),
            "VPN does not connect",
            "new",
        )
        assert snap.requester is not None
        assert snap.requester.email == "rita@example.com"

    async def test_unknown_ids(self) -> None:
        fake, _ = one_ticket()
        connector = make_connector(fake)
        for external_id in ("99999", "0", "abc", "1/../2"):
            with pytest.raises(NotFound):
                await connector.get_ticket(external_id)


class TestMarker:
    def test_round_trip(self) -> None:
        assert split_marker(with_marker("Hello  \n", "chat:1")) == ("Hello", "chat:1")

    def test_unusual_keys_are_digested(self) -> None:
        line = marker("client msg #7 / ü")
        assert "#" not in line
        assert split_marker("x\n\n" + line)[1] is not None
