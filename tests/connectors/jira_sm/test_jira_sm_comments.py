"""`add_comment` and `get_ticket`: servicedeskapi comments with `public` always explicit,
read-back, idempotency, ignored writes, and internal notes never made public
(contracts/jira-sm/README.md § 2b, § 3b, § 2a deleteComment)."""

from __future__ import annotations

import json

import pytest

from connectors.base import AuthError, ChangeKind, NotFound, Visibility, WriteNotApplied
from connectors.jira_sm.comments import marker, split_marker, with_marker
from tests.connectors.fake_support import drain
from tests.connectors.jira_sm.fake import FakeJira, make_connector


def one_request() -> FakeJira:
    fake = FakeJira()
    fake.create("VPN does not connect")
    return fake


def posts(fake: FakeJira) -> list[dict[str, object]]:
    return [json.loads(r.content) for r in fake.requests if r.method == "POST"]


def stored(fake: FakeJira) -> list[dict[str, object]]:
    return fake.comments["10001"]


class TestWrite:
    async def test_public_message_is_a_customer_visible_reply(self) -> None:
        fake = one_request()
        comment_id = await make_connector(fake).add_comment(
            "ITSD-1", "Please reinstall the profile.", Visibility.PUBLIC, "chat:7"
        )
        [comment] = stored(fake)
        assert comment_id == comment["id"]
        assert comment["public"] is True
        assert posts(fake) == [
            {
                "body": "Please reinstall the profile.\n\n— via Socialdesk [sd:chat:7]",
                "public": True,
            }
        ]
        [post] = [r for r in fake.requests if r.method == "POST"]
        assert post.url.path == "/rest/servicedeskapi/request/ITSD-1/comment"

    async def test_internal_message_is_an_internal_comment_explicitly(self) -> None:
        fake = one_request()
        await make_connector(fake).add_comment("10001", "vpn-02", Visibility.INTERNAL, "chat:8")
        assert [c["public"] for c in stored(fake)] == [False]
        assert posts(fake)[0]["public"] is False  # never left to JSM's public default

    async def test_the_platform_comment_api_is_never_used_to_write(self) -> None:
        fake = one_request()
        await make_connector(fake).add_comment("ITSD-1", "x", Visibility.INTERNAL, "chat:9")
        assert not [
            r for r in fake.requests if "/rest/api/3/issue/" in r.url.path and r.method == "POST"
        ]

    async def test_a_retry_with_the_key_writes_nothing_new(self) -> None:
        fake = one_request()
        first = await make_connector(fake).add_comment("ITSD-1", "Hi", Visibility.PUBLIC, "c:9")
        again = await make_connector(fake).add_comment("ITSD-1", "Hi", Visibility.PUBLIC, "c:9")
        assert first == again
        assert (len(posts(fake)), len(stored(fake))) == (1, 1)

    async def test_our_comment_comes_back_recognizable(self) -> None:
        fake = one_request()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.tick(5)
        comment_id = await connector.add_comment("ITSD-1", "Hello", Visibility.INTERNAL, "c:10")
        changes, _ = await drain(connector, cursor)
        [note] = [c for c in changes if c.kind is ChangeKind.COMMENTED]
        assert note.external_comment_id == comment_id
        assert (note.body, note.visibility) == ("Hello", Visibility.INTERNAL)
        assert note.payload["socialdesk_idempotency_key"] == "c:10"


class TestNeverPublic:
    async def test_a_refused_internal_note_is_not_sent_another_way(self) -> None:
        fake = one_request()
        with pytest.raises(AuthError, match="never sends an internal note any other way"):
            await make_connector(fake, email="fred@example.com", token="fred-t").add_comment(
                "ITSD-1", "secret", Visibility.INTERNAL, "chat:11"
            )
        assert [p["public"] for p in posts(fake)] == [False]  # one attempt, internal
        assert stored(fake) == []

    async def test_an_internal_note_stored_public_is_deleted_and_reported(self) -> None:
        fake = one_request()
        fake.customer_internal = "public"  # ASSUMED worst case: JSM makes it public
        with pytest.raises(WriteNotApplied, match=r"as public .* it was deleted"):
            await make_connector(fake, email="fred@example.com", token="fred-t").add_comment(
                "ITSD-1", "secret", Visibility.INTERNAL, "chat:12"
            )
        assert stored(fake) == []
        assert [r.method for r in fake.requests if "/comment/" in r.url.path] == ["DELETE"]

    async def test_a_public_marker_found_on_retry_of_an_internal_note_is_taken_down(self) -> None:
        fake = one_request()
        fake.comment("ITSD-1", with_marker("secret", "chat:13"), public=True)
        with pytest.raises(WriteNotApplied, match="as public"):
            await make_connector(fake).add_comment(
                "ITSD-1", "secret", Visibility.INTERNAL, "chat:13"
            )
        assert posts(fake) == []
        assert stored(fake) == []


class TestIgnoredWrites:
    async def test_a_dropped_comment_is_reported(self) -> None:
        fake = one_request()
        fake.drop_comments = True
        with pytest.raises(WriteNotApplied, match="shows no such comment"):
            await make_connector(fake).add_comment("ITSD-1", "Hi", Visibility.PUBLIC, "c:14")

    async def test_an_unlicensed_account_turns_a_reply_internal(self) -> None:
        fake = one_request()
        fake.account("socialdesk").role = "unlicensed"
        with pytest.raises(WriteNotApplied, match=r"public reply .* as internal"):
            await make_connector(fake).add_comment("ITSD-1", "Hi", Visibility.PUBLIC, "c:15")

    async def test_without_add_comments_the_write_is_an_auth_error(self) -> None:
        fake = one_request()
        fake.account("socialdesk").permissions.discard("ADD_COMMENTS")
        with pytest.raises(AuthError, match="403"):
            await make_connector(fake).add_comment("ITSD-1", "Hi", Visibility.PUBLIC, "c:16")


class TestFind:
    async def test_by_key_and_by_id(self) -> None:
        fake = one_request()
        connector = make_connector(fake)
        assert await connector.get_ticket("ITSD-1") == await connector.get_ticket("10001")

    async def test_issues_of_other_projects_and_odd_ids_are_not_found(self) -> None:
        fake = one_request()
        fake.create("Payroll", project="HR")
        connector = make_connector(fake)
        for external_id in ("HR-1", "ITSD-99", "../myself", ""):
            with pytest.raises(NotFound):
                await connector.get_ticket(external_id)


class TestMarker:
    def test_round_trip(self) -> None:
        assert split_marker(with_marker("Hello  \n", "chat:1")) == ("Hello", "chat:1")

    def test_unusual_keys_are_digested(self) -> None:
        line = marker("client msg #7 / ü")
        assert "#" not in line
        assert split_marker("x\n\n" + line)[1] is not None
