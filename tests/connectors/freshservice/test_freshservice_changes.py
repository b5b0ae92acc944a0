"""`changes_since` over `updated_since` (contracts/freshservice/README.md § 1): the poll's
own (`updated_at`, `id`) order whatever the listing's, exactly once across restarts, the
overlap window, same-second ties cut by a page, conversation visibility (§ 2), field
changes, the workspace's scope and `sync_from`."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from connectors.base import ChangeKind, ConfigError, Visibility
from connectors.feed import MAX_CHANGES
from connectors.freshservice.cursor import FreshserviceCursor
from tests.connectors.fake_support import drain, ids
from tests.connectors.freshservice.fake import HR, FakeFreshservice, listings, make_connector

ALEX = 21000418006


def one_ticket() -> tuple[FakeFreshservice, int]:
    fake = FakeFreshservice()
    ticket = fake.create("VPN drops every ten minutes", "The VPN drops.")
    fake.tick(5)
    fake.reply(ticket["id"], "Which client version?")
    fake.tick(1)
    fake.note(ticket["id"], "Probably vpn-02 again.")
    fake.tick(1)
    return fake, ticket["id"]


class TestFirstSync:
    async def test_created_then_conversations_in_order_with_visibility(self) -> None:
        fake, ticket_id = one_ticket()
        changes, _ = await drain(make_connector(fake), None)
        got = [(c.kind, c.visibility, c.body) for c in changes]
        assert got == [
            (ChangeKind.CREATED, Visibility.PUBLIC, "The VPN drops."),
            (ChangeKind.COMMENTED, Visibility.PUBLIC, "Which client version?"),
            (ChangeKind.COMMENTED, Visibility.INTERNAL, "Probably vpn-02 again."),  # private
        ]
        assert changes[0].source_id == f"freshservice:ticket:{ticket_id}:created"
        assert [c.external_comment_id for c in changes[1:]] == [
            str(c["id"]) for c in fake.conversations[ticket_id]
        ]

    async def test_the_readme_ticket_and_conversations(self) -> None:
        fake = FakeFreshservice()
        fake.load_readme_ticket()
        changes, _ = await drain(make_connector(fake), None)
        created, reply, note = changes
        snap = created.ticket
        assert (snap.external_id, snap.title) == (
            "4",
            "Where can I find more information about employee health benefits?",
        )
        assert (snap.status, snap.raw_status, snap.priority, snap.raw_priority) == (
            "new",
            "2/unassigned",
            "P4",
            "1",
        )
        assert snap.requester is not None
        assert snap.requester.external_id == "21000418007"
        assert snap.url == "https://its-fine.freshservice.com/a/tickets/4"
        # § 2: the reply (20:18:18) came before the private note (20:18:40).
        assert (reply.visibility, reply.external_comment_id) == (Visibility.PUBLIC, "21004158695")
        assert (note.visibility, note.body) == (
            Visibility.INTERNAL,
            "Customer has been down for multiple days.",
        )

    async def test_from_the_beginning_asks_for_every_update(self) -> None:
        # § 1: without updated_since only the last 30 days' tickets would be listed.
        fake, _ = one_ticket()
        await drain(make_connector(fake), None)
        first = listings(fake)[0].url.params
        assert first["updated_since"] == "1970-01-01T00:00:00Z"
        assert (first["per_page"], first["workspace_id"]) == ("100", "2")

    async def test_a_malformed_ticket_is_reported_not_fatal(self) -> None:
        fake, _ = one_ticket()
        bad = fake.create("Broken")
        bad["status"] = "open?"
        page = await make_connector(fake).changes_since(None)
        assert any(f"ticket {bad['id']}" in note for note in page.notes)
        assert len(page.changes) == 3


class TestExactlyOnce:
    async def test_nothing_twice_across_a_restart(self) -> None:
        fake, ticket_id = one_ticket()
        first, cursor = await drain(make_connector(fake), None)
        fake.tick(10)
        again, cursor = await drain(make_connector(fake), cursor)  # a new process
        assert again == []
        fake.tick(10)
        fake.reply(ticket_id, "Any news?", by=21000418007)
        later, _ = await drain(make_connector(fake), cursor)
        assert [(c.kind, c.body) for c in later] == [(ChangeKind.COMMENTED, "Any news?")]
        assert set(ids(first)).isdisjoint(ids(later))

    async def test_the_overlap_is_read_again_and_emits_nothing(self) -> None:
        fake, _ = one_ticket()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        state = FreshserviceCursor.parse(cursor)
        assert state.since is not None
        again, _ = await drain(connector, cursor)
        assert again == []
        since = listings(fake)[-1].url.params["updated_since"]
        assert since == (state.since - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def test_a_late_update_inside_the_overlap_is_not_lost(self) -> None:
        # A ticket whose updated_at is older than the cursor's position (clock skew, a
        # late commit) but inside the overlap window still arrives, once.
        fake, _ = one_ticket()
        _, cursor = await drain(make_connector(fake), None)
        state = FreshserviceCursor.parse(cursor)
        assert state.since is not None
        fake.now = state.since - timedelta(seconds=30)
        late = fake.create("Printer on fire")
        changes, cursor = await drain(make_connector(fake), cursor)
        assert ids(changes) == [f"freshservice:ticket:{late['id']}:created"]
        assert (await drain(make_connector(fake), cursor))[0] == []

    async def test_ties_in_one_second_cut_by_a_page_are_neither_lost_nor_repeated(
        self,
    ) -> None:
        fake = FakeFreshservice()
        made = [fake.create(f"Laptop {n}") for n in range(MAX_CHANGES + 30)]  # same second
        fake.tick(1)
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            page = await make_connector(fake).changes_since(cursor)  # a restart every page
            seen += ids(page.changes)
            cursor = page.cursor
            if not page.has_more:
                break
        assert len(seen) == len(set(seen)) == len(made)
        assert seen == [f"freshservice:ticket:{t['id']}:created" for t in made]  # by id

    async def test_the_poll_orders_what_the_listing_does_not(self) -> None:
        # The fake lists newest-created first (ASSUMED); changes come by updated_at, id.
        fake = FakeFreshservice()
        old = fake.create("Old")
        fake.tick(5)
        new = fake.create("New")
        fake.tick(5)
        fake.reply(old["id"], "Still broken")
        _, cursor = await drain(make_connector(fake), None)
        fake.tick(5)
        fake.update(new["id"], priority=4)
        fake.tick(1)
        fake.update(old["id"], status=3)
        changes, _ = await drain(make_connector(fake), cursor)
        assert [(c.ticket.external_id, c.kind) for c in changes] == [
            (str(new["id"]), ChangeKind.PRIORITY_CHANGED),
            (str(old["id"]), ChangeKind.STATUS_CHANGED),
        ]

    async def test_a_listing_that_changes_while_paged_keeps_the_position(self) -> None:
        # New tickets arrive between two pages of every listing, so the pages overlap (the
        # same ticket twice): one may also have slipped past, so the position is kept.
        fake = FakeFreshservice()
        fake.per_page_cap = 2
        for n in range(5):
            fake.create(f"Ticket {n}")
        fake.tick(1)
        _, cursor = await drain(make_connector(fake), None)
        before = FreshserviceCursor.parse(cursor).since
        fake.tick(5)
        arriving = {"on": True}

        def arrive(request: httpx.Request) -> None:
            listing = request.url.path == "/api/v2/tickets"
            if arriving["on"] and listing and request.url.params.get("page") == "1":
                fake.create("Arrived while paging")

        fake.after_request = arrive
        page = await make_connector(fake).changes_since(cursor)
        arriving["on"] = False
        assert any("changed while it was read" in n for n in page.notes)
        assert FreshserviceCursor.parse(page.cursor).since == before
        rest, _ = await drain(make_connector(fake), page.cursor)
        everything = ids(page.changes) + ids(rest)
        assert len(everything) == len(set(everything))
        created = {t["id"] for t in fake.tickets.values() if t["subject"].startswith("Arrived")}
        assert {int(c.ticket.external_id) for c in page.changes + rest} == created


class TestFieldChanges:
    async def test_status_priority_responder_group_and_subject(self) -> None:
        fake, ticket_id = one_ticket()
        _, cursor = await drain(make_connector(fake), None)
        fake.tick(5)
        fake.update(ticket_id, responder_id=ALEX, group_id=77, priority=4, subject="VPN down")
        changes, _ = await drain(make_connector(fake), cursor)
        got = {c.payload["field"]: (c.kind, c.old_value, c.new_value) for c in changes}
        assert got == {
            "status": (ChangeKind.STATUS_CHANGED, "new", "open"),  # picked up: no longer new
            "priority": (ChangeKind.PRIORITY_CHANGED, "P4", "P1"),
            "responder_id": (ChangeKind.ASSIGNED, None, str(ALEX)),
            "group_id": (ChangeKind.ASSIGNED, None, "77"),
            "subject": (ChangeKind.UPDATED, None, "VPN down"),
        }
        responder = next(c for c in changes if c.payload["field"] == "responder_id")
        assert responder.payload["new_email"] == "alex.agent@its-fine.example"
        assert changes[0].ticket.assignee is not None
        assert changes[0].ticket.assignee.name == "Alex Agent"

    async def test_resolved_and_reopened_between_polls(self) -> None:
        fake, ticket_id = one_ticket()
        fake.update(ticket_id, responder_id=ALEX)
        _, cursor = await drain(make_connector(fake), None)
        fake.tick(5)
        fake.update(ticket_id, status=4)
        resolved, cursor = await drain(make_connector(fake), cursor)
        assert [(c.kind, c.new_value) for c in resolved] == [(ChangeKind.RESOLVED, "resolved")]
        fake.tick(5)
        fake.update(ticket_id, status=2)
        reopened, _ = await drain(make_connector(fake), cursor)
        assert [(c.kind, c.new_value) for c in reopened] == [(ChangeKind.REOPENED, "open")]


class TestScope:
    async def test_other_workspaces_stay_out_even_if_the_filter_is_ignored(self) -> None:
        fake, ticket_id = one_ticket()
        fake.create("Payroll question", workspace=HR)
        fake.ignore_workspace_filter = True
        changes, _ = await drain(make_connector(fake), None)
        assert {c.ticket.external_id for c in changes} == {str(ticket_id)}

    async def test_without_a_workspace_every_ticket(self) -> None:
        fake, _ = one_ticket()
        fake.create("Payroll question", workspace=HR)
        changes, _ = await drain(make_connector(fake, workspace_id=""), None)
        assert len({c.ticket.external_id for c in changes}) == 2
        assert "workspace_id" not in listings(fake)[0].url.params


class TestSyncFrom:
    async def test_what_was_updated_before_is_not_mirrored(self) -> None:
        fake, old_id = one_ticket()
        fake.tick(3600)
        connector = make_connector(fake)
        cursor = await connector.cursor_at(fake.now)
        fake.tick(10)
        fake.reply(old_id, "Back again")
        fresh = fake.create("New one")
        changes, _ = await drain(connector, cursor)
        assert [(c.ticket.external_id, c.kind) for c in changes] == [
            (str(old_id), ChangeKind.UPDATED),  # first seen: enters the mirror
            (str(old_id), ChangeKind.COMMENTED),
            (str(fresh["id"]), ChangeKind.CREATED),
        ]

    async def test_a_foreign_cursor_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="not a Freshservice cursor"):
            await make_connector(FakeFreshservice()).changes_since('{"export": 1}')
