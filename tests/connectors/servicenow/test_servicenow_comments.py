"""`add_comment` and `get_ticket`: journal writes, read-back, idempotency and ignored writes
(contracts/servicenow/README.md § 2 journal entries, § 3 add a comment / work note, § 1
"the instance ignores the invalid part" of a query)."""

from __future__ import annotations

import json

import pytest

from connectors.base import AuthError, ChangeKind, NotFound, Visibility, WriteNotApplied
from connectors.servicenow.comments import marker, split_marker, with_marker
from tests.connectors.fake_support import drain
from tests.connectors.servicenow.fake import FakeServiceNow, error, make_connector


def one_incident() -> tuple[FakeServiceNow, dict[str, str]]:
    fake = FakeServiceNow()
    return fake, fake.create("VPN does not connect")


def patches(fake: FakeServiceNow) -> list[dict[str, object]]:
    return [json.loads(r.content) for r in fake.requests if r.method == "PATCH"]


class TestWrite:
    async def test_public_message_becomes_a_comment(self) -> None:
        fake, record = one_incident()
        entry_id = await make_connector(fake).add_comment(
            record["number"], "Please reinstall the profile.", Visibility.PUBLIC, "chat:7"
        )
        [entry] = fake.journal(record["sys_id"])
        assert entry_id == entry["sys_id"]
        assert entry["element"] == "comments"
        assert entry["value"] == "Please reinstall the profile.\n\n— via Socialdesk [sd:chat:7]"
        assert entry["sys_created_by"] == "socialdesk.integration"
        assert patches(fake) == [{"comments": entry["value"]}]
        [patch] = [r for r in fake.requests if r.method == "PATCH"]
        assert patch.url.path == f"/api/now/table/incident/{record['sys_id']}"

    async def test_internal_message_becomes_a_work_note(self) -> None:
        fake, record = one_incident()
        await make_connector(fake).add_comment(
            record["sys_id"], "vpn-02 rebooted", Visibility.INTERNAL, "chat:8"
        )
        assert [e["element"] for e in fake.journal(record["sys_id"])] == ["work_notes"]
        assert list(patches(fake)[0]) == ["work_notes"]

    async def test_a_retry_with_the_key_writes_nothing_new(self) -> None:
        fake, record = one_incident()
        connector = make_connector(fake)
        first = await connector.add_comment(record["number"], "Hi", Visibility.PUBLIC, "chat:9")
        again = await make_connector(fake).add_comment(
            record["number"], "Hi", Visibility.PUBLIC, "chat:9"
        )
        assert first == again
        assert len(patches(fake)) == 1
        assert len(fake.journal(record["sys_id"])) == 1

    async def test_our_entry_comes_back_recognizable(self) -> None:
        fake, record = one_incident()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.tick(5)
        entry_id = await connector.add_comment(
            record["number"], "Hello", Visibility.INTERNAL, "chat:10"
        )
        changes, _ = await drain(connector, cursor)
        [note] = [c for c in changes if c.kind is ChangeKind.COMMENTED]
        assert note.external_comment_id == entry_id
        assert (note.body, note.visibility) == ("Hello", Visibility.INTERNAL)
        assert note.payload["socialdesk_idempotency_key"] == "chat:10"


class TestIgnoredWrites:
    async def test_a_field_the_acl_drops_is_reported(self) -> None:
        fake, record = one_incident()
        fake.account("socialdesk.integration").cannot_write = {"work_notes"}
        with pytest.raises(WriteNotApplied, match=r"stored no journal entry.*'work_notes'"):
            await make_connector(fake).add_comment(
                record["number"], "secret", Visibility.INTERNAL, "chat:11"
            )
        assert len(patches(fake)) == 1  # answered 200, wrote nothing
        assert fake.journal(record["sys_id"]) == []

    async def test_a_table_without_journal_fields_is_reported(self) -> None:
        fake, record = one_incident()
        fake.schemas["incident"] = [f for f in fake.schemas["incident"] if f != "comments"]
        with pytest.raises(WriteNotApplied):
            await make_connector(fake).add_comment(
                record["number"], "Hi", Visibility.PUBLIC, "chat:12"
            )

    async def test_a_marker_in_the_other_journal_field_fails_the_retry(self) -> None:
        fake, record = one_incident()
        fake.update(record["sys_id"], comments=with_marker("secret", "chat:13"))
        with pytest.raises(WriteNotApplied, match="as a comment"):
            await make_connector(fake).add_comment(
                record["number"], "secret", Visibility.INTERNAL, "chat:13"
            )
        assert patches(fake) == []

    async def test_a_refused_write_is_an_auth_error(self) -> None:
        fake, record = one_incident()
        path = f"/api/now/table/incident/{record['sys_id']}"
        fake.faults[path] = error(403, "Operation Failed", "Data Policy Exception")
        with pytest.raises(AuthError, match="Data Policy Exception"):
            await make_connector(fake).add_comment(
                record["sys_id"], "Hi", Visibility.PUBLIC, "chat:14"
            )


class TestFind:
    async def test_by_number_and_by_sys_id(self) -> None:
        fake, record = one_incident()
        connector = make_connector(fake)
        by_number = await connector.get_ticket(record["number"])
        by_sys_id = await connector.get_ticket(record["sys_id"])
        assert by_number == by_sys_id
        assert (by_number.external_id, by_number.title) == (
            record["number"],
            record["short_description"],
        )

    async def test_an_ignored_number_term_does_not_pick_another_record(self) -> None:
        # § 1: were `number=` ignored, the query would list the whole table.
        fake = FakeServiceNow()
        fake.ignored_fields = {"number"}
        fake.create("First")
        second = fake.create("Second")
        assert (await make_connector(fake).get_ticket(second["number"])).title == "Second"
        with pytest.raises(NotFound):
            await make_connector(fake).get_ticket("INC9999999")

    async def test_unknown_ids(self) -> None:
        fake, _ = one_incident()
        connector = make_connector(fake)
        for external_id in ("INC9999999", "0" * 32, "number=1^ORDERBYx"):
            with pytest.raises(NotFound):
                await connector.get_ticket(external_id)


class TestMarker:
    def test_round_trip(self) -> None:
        assert split_marker(with_marker("Hello  \n", "chat:1")) == ("Hello", "chat:1")

    def test_text_without_marker(self) -> None:
        assert split_marker("Hello [sd:x]") == ("Hello [sd:x]", None)

    def test_unusual_keys_are_digested(self) -> None:
        line = marker("client msg #7 / ü")
        assert "#" not in line
        assert split_marker("x\n\n" + line)[1] is not None
