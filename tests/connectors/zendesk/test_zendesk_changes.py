"""`changes_since` over the cursor-based incremental export (contracts/zendesk/README.md
§ 1a): exactly once across restarts, the one-minute lag, pages cut anywhere, comment
visibility (§ 2), field changes, the group's scope and `sync_from`."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from connectors.base import ChangeKind, ConfigError, Visibility
from connectors.feed import MAX_CHANGES
from connectors.zendesk.cursor import ZendeskCursor
from tests.connectors.fake_support import drain, ids
from tests.connectors.zendesk.fake import NETWORK, FakeZendesk, exports, make_connector

AGENT = 235323


def ready(fake: FakeZendesk) -> None:
    """Let the export's minute pass (§ 1a: the most recent minute is left out)."""
    fake.tick(61)


def one_ticket() -> tuple[FakeZendesk, int]:
    fake = FakeZendesk()
    ticket = fake.create("VPN drops every ten minutes", "The VPN drops.")
    fake.tick(5)
    fake.comment(ticket["id"], "Which client version?")
    fake.comment(ticket["id"], "Probably vpn-02 again.", public=False)
    ready(fake)
    return fake, ticket["id"]


class TestFirstSync:
    async def test_created_then_comments_in_order_with_visibility(self) -> None:
        fake, ticket_id = one_ticket()
        changes, _ = await drain(make_connector(fake), None)
        got = [(c.kind, c.visibility, c.body) for c in changes]
        assert got == [
            (ChangeKind.CREATED, Visibility.PUBLIC, None),
            (ChangeKind.COMMENTED, Visibility.PUBLIC, "The VPN drops."),
            (ChangeKind.COMMENTED, Visibility.PUBLIC, "Which client version?"),
            (ChangeKind.COMMENTED, Visibility.INTERNAL, "Probably vpn-02 again."),  # public: false
        ]
        assert changes[0].source_id == f"zendesk:ticket:{ticket_id}:created"
        assert [c.external_comment_id for c in changes[1:]] == [
            str(c["id"]) for c in fake.comments[ticket_id]
        ]

    async def test_the_first_request_sends_start_time_and_later_ones_the_cursor(self) -> None:
        fake, ticket_id = one_ticket()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.comment(ticket_id, "Any news?", by=20978392)
        ready(fake)
        await drain(connector, cursor)
        first, second = (r.url.params for r in exports(fake))
        assert (first["start_time"], "cursor" in first) == ("0", False)
        assert ("start_time" in second, second["cursor"]) == (
            False,
            json.loads(cursor or "")["export"],
        )
        assert first["per_page"] == "100"


class TestLag:
    async def test_a_change_inside_the_last_minute_comes_on_a_later_poll(self) -> None:
        fake, ticket_id = one_ticket()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.comment(ticket_id, "Rebooted vpn-02.")
        fake.tick(30)
        early, cursor = await drain(connector, cursor)
        assert early == []
        fake.tick(31)
        later, _ = await drain(connector, cursor)
        assert [c.body for c in later] == ["Rebooted vpn-02."]

    async def test_sync_from_now_never_asks_for_the_last_minute(self) -> None:
        fake, ticket_id = one_ticket()
        connector = make_connector(fake)
        cursor = await connector.cursor_at(fake.now)
        start = int(exports_param(await drain_first(connector, cursor, fake), "start_time"))
        assert start <= int(fake.now.timestamp()) - 60
        fake.tick(2)
        fake.comment(ticket_id, "After the start.")
        ready(fake)
        changes, _ = await drain(connector, cursor)
        # Created before sync_from: "first seen", then only the comment after it.
        assert [(c.kind, c.body) for c in changes] == [
            (ChangeKind.UPDATED, None),
            (ChangeKind.COMMENTED, "After the start."),
        ]
        assert changes[0].payload["first_seen"] is True


async def drain_first(connector: object, cursor: str, fake: FakeZendesk) -> FakeZendesk:
    await connector.changes_since(cursor)  # type: ignore[attr-defined]
    return fake


def exports_param(fake: FakeZendesk, name: str) -> str:
    return exports(fake)[-1].url.params[name]


class TestExactlyOnce:
    async def test_a_restart_resumes_without_repeats(self) -> None:
        fake, ticket_id = one_ticket()
        _, cursor = await drain(make_connector(fake), None)
        fake.comment(ticket_id, "After the restart.", public=False)
        fake.update(ticket_id, status="pending")
        ready(fake)
        changes, cursor = await drain(make_connector(fake), cursor)  # a new process
        assert [(c.kind, c.visibility) for c in changes] == [
            (ChangeKind.COMMENTED, Visibility.INTERNAL),
            (ChangeKind.STATUS_CHANGED, Visibility.PUBLIC),
        ]
        again, _ = await drain(make_connector(fake), cursor)
        assert again == []

    async def test_a_system_update_emits_nothing(self) -> None:
        fake, ticket_id = one_ticket()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.touch(ticket_id)  # generated_timestamp moves, nothing we track changes
        ready(fake)
        changes, _ = await drain(connector, cursor)
        assert changes == []

    async def test_pages_cut_anywhere_lose_and_repeat_nothing(self) -> None:
        fake = FakeZendesk()
        tickets = [fake.create(f"Ticket {n}")["id"] for n in range(3)]
        for n in range(MAX_CHANGES + 20):
            fake.comment(tickets[n % 3], f"comment {n}", public=n % 2 == 0)
        ready(fake)
        whole, _ = await drain(make_connector(fake), None)
        pieces, cursor, pages = [], None, 0
        while True:  # every page by a new process, as after a crash
            page = await make_connector(fake).changes_since(cursor)
            pieces += page.changes
            cursor, pages = page.cursor, pages + 1
            if not page.has_more:
                break
        assert pages > 1
        assert all(
            len(p) <= MAX_CHANGES
            for p in [pieces[i : i + MAX_CHANGES] for i in range(0, len(pieces), MAX_CHANGES)]
        )
        assert ids(pieces) == ids(whole)
        assert len(set(ids(whole))) == len(whole) == 3 + 3 + MAX_CHANGES + 20

    async def test_export_pages_follow_after_cursor(self) -> None:
        fake = FakeZendesk()
        for n in range(250):
            fake.create(f"Ticket {n}")
            if n % 50 == 0:
                fake.tick(1)
        ready(fake)
        changes, _ = await drain(make_connector(fake), None)
        created = [c for c in changes if c.kind is ChangeKind.CREATED]
        assert len(created) == len({c.ticket.external_id for c in created}) == 250
        assert len(exports(fake)) >= 3

    async def test_two_updates_between_polls_give_both_changes(self) -> None:
        fake, ticket_id = one_ticket()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.update(ticket_id, assignee_id=AGENT)
        fake.tick(1)
        fake.update(ticket_id, priority="urgent")
        ready(fake)
        changes, _ = await drain(connector, cursor)
        assert {c.kind for c in changes} == {ChangeKind.ASSIGNED, ChangeKind.PRIORITY_CHANGED}

    async def test_a_ticket_updated_during_the_poll_comes_again(self) -> None:
        fake, ticket_id = one_ticket()
        connector = make_connector(fake)

        def meanwhile(request: httpx.Request) -> None:
            if request.url.path.endswith("/cursor.json") and fake.after_request is not None:
                fake.after_request = None
                fake.comment(ticket_id, "Written while the poll ran.")

        fake.after_request = meanwhile
        first, cursor = await drain(connector, None)
        assert "Written while the poll ran." in [c.body for c in first]  # read with the rest
        ready(fake)
        second, _ = await drain(connector, cursor)
        assert second == []  # the ticket comes again in the export, nothing new in it

    def test_a_foreign_cursor_is_refused(self) -> None:
        with pytest.raises(ConfigError):
            ZendeskCursor.parse('{"since": 1}')


class TestFieldChanges:
    async def test_status_priority_assignee_group(self) -> None:
        fake, ticket_id = one_ticket()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.update(ticket_id, status="open", priority="high", assignee_id=AGENT)
        ready(fake)
        changes, cursor = await drain(connector, cursor)
        got = [(c.kind, c.old_value, c.new_value, c.payload["field"]) for c in changes]
        assert got == [
            (ChangeKind.STATUS_CHANGED, "new", "open", "status"),
            (ChangeKind.PRIORITY_CHANGED, "P3", "P2", "priority"),
            (ChangeKind.ASSIGNED, None, str(AGENT), "assignee_id"),
        ]
        assert changes[-1].ticket.assignee is not None
        assert changes[-1].ticket.assignee.email == "alex.agent@acme.example"
        fake.update(ticket_id, status="solved")
        ready(fake)
        solved, cursor = await drain(connector, cursor)
        assert [(c.kind, c.new_value) for c in solved] == [(ChangeKind.RESOLVED, "resolved")]
        fake.update(ticket_id, status="open")
        ready(fake)
        reopened, _ = await drain(connector, cursor)
        assert [c.kind for c in reopened] == [ChangeKind.REOPENED]

    async def test_a_ticket_leaving_the_group_is_reported_then_dropped(self) -> None:
        fake, ticket_id = one_ticket()
        other = fake.create("Printer jam", group=NETWORK)["id"]
        ready(fake)
        connector = make_connector(fake)
        changes, cursor = await drain(connector, None)
        assert str(other) not in {c.ticket.external_id for c in changes}
        fake.update(ticket_id, group_id=NETWORK)
        ready(fake)
        moved, cursor = await drain(connector, cursor)
        assert [(c.kind, c.new_value) for c in moved] == [(ChangeKind.ASSIGNED, str(NETWORK))]
        fake.comment(ticket_id, "Now Network's business.")
        ready(fake)
        assert (await drain(connector, cursor))[0] == []

    async def test_all_groups_without_group_id(self) -> None:
        fake, _ = one_ticket()
        fake.create("Printer jam", group=NETWORK)
        ready(fake)
        changes, _ = await drain(make_connector(fake, group_id=""), None)
        assert len([c for c in changes if c.kind is ChangeKind.CREATED]) == 2


class TestDescription:
    async def test_a_private_first_comment_keeps_the_description_out_of_the_mirror(
        self,
    ) -> None:
        fake = FakeZendesk()
        fake.create("Breach on host db-7", "Credentials leaked on db-7.", public=False, by=AGENT)
        ready(fake)
        changes, _ = await drain(make_connector(fake), None)
        assert changes[0].kind is ChangeKind.CREATED
        assert (changes[0].body, changes[0].ticket.description) == (None, "")
        assert changes[1].visibility is Visibility.INTERNAL

    async def test_a_public_first_comment_is_the_description(self) -> None:
        fake, _ = one_ticket()
        changes, _ = await drain(make_connector(fake), None)
        assert changes[-1].ticket.description == "The VPN drops."


class TestKnownTickets:
    async def test_a_busy_ticket_reads_only_its_newest_comments(self) -> None:
        fake = FakeZendesk()
        ticket_id = fake.create("Busy")["id"]
        for n in range(250):
            fake.tick(1)
            fake.comment(ticket_id, f"c{n}")
        ready(fake)
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        before = len(fake.requests)
        fake.tick(timedelta(minutes=5).total_seconds())
        fake.comment(ticket_id, "newest")
        ready(fake)
        changes, _ = await drain(connector, cursor)
        assert [c.body for c in changes] == ["newest"]
        comment_reads = [r for r in fake.requests[before:] if r.url.path.endswith("/comments.json")]
        assert len(comment_reads) == 1
        assert comment_reads[0].url.params["sort"] == "-created_at"
