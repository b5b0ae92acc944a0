"""`changes_since` over the contract's examples (contracts/servicenow/README.md § 1 List
incidents changed since a cursor, § 2 journal entries, § 5 states): exactly once across
restarts, the overlap window and records sharing one `sys_updated_on` second."""

from __future__ import annotations

import json

import httpx

from connectors.base import ChangeKind, Person, Visibility
from connectors.servicenow.cursor import MAX_KNOWN, ServiceNowCursor
from tests.connectors.fake_support import drain, ids
from tests.connectors.servicenow.fake import NETWORK, URL, FakeServiceNow, listings, make_connector

ENTRIES = ("4db0e8cb1bcccc106a4a85507e4bcba2", "2c6420c31b0000506a4a85507e4bcb82")
README_ID = "965f140bdb4c8c105f6f00b5ca961922"


def readme_instance() -> FakeServiceNow:
    fake = FakeServiceNow()
    fake.load_readme_incident()
    return fake


def agent(fake: FakeServiceNow) -> str:
    return fake.account("beth.anglin").sys_id


class TestReadmeIncident:
    async def test_created_then_journal_in_order_with_visibility(self) -> None:
        changes, _ = await drain(make_connector(readme_instance()), None)
        got = [(c.source_id, c.kind, c.visibility, c.body) for c in changes]
        assert got == [
            (f"servicenow:incident:{README_ID}:created", ChangeKind.CREATED, "public", ""),
            (
                f"servicenow:journal:{ENTRIES[0]}",
                ChangeKind.COMMENTED,
                Visibility.PUBLIC,  # `comments`: Additional comments, customer-visible
                "This is Sev1 incident.",
            ),
            (
                f"servicenow:journal:{ENTRIES[1]}",
                ChangeKind.COMMENTED,
                Visibility.INTERNAL,  # `work_notes`
                "Team is actively looking into it.",
            ),
        ]
        assert [c.external_comment_id for c in changes[1:]] == list(ENTRIES)

    async def test_snapshot_and_people(self) -> None:
        fake = readme_instance()
        changes, _ = await drain(make_connector(fake), None)
        snap = changes[-1].ticket
        assert snap.external_id.startswith("INC")
        assert (snap.status, snap.raw_status, snap.priority, snap.raw_priority) == (
            "new",
            "New",
            "P1",
            "1",
        )
        assert snap.url == f"{URL}/incident.do?sys_id={README_ID}"
        admin = fake.account("admin")
        # Journal rows name users by user name (§ 2); sys_user gives name and e-mail.
        assert changes[1].actor == Person(admin.sys_id, "System Administrator", admin.email)
        assert snap.requester == changes[1].actor
        assert snap.assignee is None

    async def test_users_are_looked_up_once_in_batches(self) -> None:
        fake = readme_instance()
        connector = make_connector(fake)
        await drain(connector, None)
        fake.update(README_ID, by="admin", comments="Any news?")
        await drain(connector, None)
        lookups = [r for r in fake.requests if r.url.path == "/api/now/table/sys_user"]
        assert len(lookups) == 2  # one by sys_id, one by user name; cached afterwards
        assert {r.url.params["sysparm_query"].split("IN")[0] for r in lookups} == {
            "sys_id",
            "user_name",
        }

    async def test_without_sys_user_people_are_ids_and_user_names(self) -> None:
        fake = readme_instance()
        fake.read_roles["sys_user"] = "admin"
        changes, _ = await drain(make_connector(fake), None)
        assert changes[1].actor == Person("admin", "admin", None)
        assert changes[0].ticket.requester == Person(fake.account("admin").sys_id)

    async def test_the_listing_query(self) -> None:
        fake = readme_instance()
        await drain(make_connector(fake), None)
        params = listings(fake)[0].url.params
        assert params["sysparm_query"] == (
            "assignment_group=d625dccec0a8016700a222a0f7900d06^ORDERBYsys_updated_on^ORDERBYsys_id"
        )
        assert params["sysparm_limit"] == "100"
        assert params["sysparm_exclude_reference_link"] == "true"
        assert params["sysparm_display_value"] == "false"


class TestFieldChanges:
    async def test_state_assignment_and_priority(self) -> None:
        fake = FakeServiceNow()
        record = fake.create("VPN drops every ten minutes")
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.tick(30)
        fake.update(record["sys_id"], state="2", assigned_to=agent(fake), impact="2", urgency="1")
        changes, _ = await drain(connector, cursor)
        got = [(c.kind, c.old_value, c.new_value, c.payload["field"]) for c in changes]
        assert got == [
            (ChangeKind.STATUS_CHANGED, "new", "in_progress", "state"),
            (ChangeKind.UPDATED, "3", "2", "impact"),
            (ChangeKind.UPDATED, "3", "1", "urgency"),
            (ChangeKind.ASSIGNED, None, agent(fake), "assigned_to"),
        ]
        assert changes[-1].payload["new_name"] == "Beth Anglin"
        assert changes[0].actor == Person(agent(fake), "Beth Anglin", "beth.anglin@example.com")
        mod = record["sys_mod_count"]
        assert changes[0].source_id == f"servicenow:incident:{record['sys_id']}:{mod}:state"

    async def test_priority_changes_when_the_normalized_priority_moves(self) -> None:
        fake = FakeServiceNow()
        record = fake.create("Printer jammed", priority="4", impact="2", urgency="3")
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.update(record["sys_id"], priority="5")  # Low → Planning: both P4
        changes, cursor = await drain(connector, cursor)
        assert [(c.kind, c.payload["raw_new"]) for c in changes] == [(ChangeKind.UPDATED, "5")]
        fake.update(record["sys_id"], priority="1")
        changes, _ = await drain(connector, cursor)
        assert [(c.kind, c.old_value, c.new_value) for c in changes] == [
            (ChangeKind.PRIORITY_CHANGED, "P4", "P1")
        ]

    async def test_resolve_and_reopen(self) -> None:
        fake = FakeServiceNow()
        record = fake.create("Mailbox full", state="2")
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.update(record["sys_id"], state="6", comments="Archived old mail.")
        changes, cursor = await drain(connector, cursor)
        assert [(c.kind, c.new_value) for c in changes] == [
            (ChangeKind.COMMENTED, None),
            (ChangeKind.RESOLVED, "resolved"),
        ]
        fake.update(record["sys_id"], state="2", by="abel.tuter")
        changes, _ = await drain(connector, cursor)
        assert [(c.kind, c.old_value, c.new_value) for c in changes] == [
            (ChangeKind.REOPENED, "resolved", "in_progress")
        ]

    async def test_title_and_caller_changes_are_timeline_updates(self) -> None:
        fake = FakeServiceNow()
        record = fake.create("Laptop slow")
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.update(record["sys_id"], short_description="Laptop very slow", caller_id=agent(fake))
        changes, _ = await drain(connector, cursor)
        assert [(c.kind, c.payload["field"]) for c in changes] == [
            (ChangeKind.UPDATED, "caller_id"),
            (ChangeKind.UPDATED, "short_description"),
        ]
        assert changes[-1].new_value == "Laptop very slow"
        assert changes[-1].ticket.requester is not None
        assert changes[-1].ticket.requester.name == "Beth Anglin"


class TestExactlyOnce:
    async def test_polling_again_yields_nothing(self) -> None:
        fake = readme_instance()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        again = await connector.changes_since(cursor)
        assert (again.changes, again.has_more) == ([], False)

    async def test_a_restart_resumes_from_the_stored_cursor(self) -> None:
        fake = FakeServiceNow()
        first = fake.create("First")
        _, cursor = await drain(make_connector(fake), None)
        fake.tick(10)
        fake.update(first["sys_id"], comments="Still broken")
        fake.create("Second")
        stored = json.loads(json.dumps(cursor))  # as the database gives it back
        changes, _ = await drain(make_connector(fake), stored)  # a new process
        assert [c.kind for c in changes] == [ChangeKind.COMMENTED, ChangeKind.CREATED]

    async def test_overlap_window_rereads_without_repeating(self) -> None:
        fake = FakeServiceNow()
        fake.create("First")
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.tick(20)
        fake.create("Second")
        changes, cursor = await drain(connector, cursor)
        assert [c.ticket.title for c in changes] == ["Second"]
        fake.tick(20)
        changes, _ = await drain(connector, cursor)
        assert changes == []
        # The window reaches back 60 s before the last record emitted (20:36:52 + 20 s).
        query = listings(fake)[-1].url.params["sysparm_query"]
        assert "^sys_updated_on>2026-11-28 20:36:12^" in query

    async def test_a_late_commit_inside_the_window_is_not_lost(self) -> None:
        fake = FakeServiceNow()
        fake.create("First")
        fake.tick(30)
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        # Committed after the poll, stamped 20 s before the newest record it saw.
        late = fake.create("Late", sys_updated_on="2026-11-28 20:37:02")
        changes, _ = await drain(connector, cursor)
        assert ids(changes) == [f"servicenow:incident:{late['sys_id']}:created"]

    async def test_two_updates_in_one_second_are_both_seen(self) -> None:
        fake = FakeServiceNow()
        record = fake.create("Printer jammed")
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.update(record["sys_id"], state="2")  # same second as the creation
        changes, cursor = await drain(connector, cursor)
        assert [c.kind for c in changes] == [ChangeKind.STATUS_CHANGED]
        fake.update(record["sys_id"], comments="Same second again")
        changes, _ = await drain(connector, cursor)
        assert [c.kind for c in changes] == [ChangeKind.COMMENTED]

    async def test_records_sharing_a_second_across_pages_and_a_restart(self) -> None:
        fake = FakeServiceNow()
        made = [fake.create(f"Outage report {n}") for n in range(250)]  # one second
        connector = make_connector(fake)
        first = await connector.changes_since(None)
        # a restart after the first page: a new connector from the stored cursor
        rest, cursor = await drain(make_connector(fake), first.cursor)
        every = ids(first.changes + rest)
        assert len(first.changes) == 100
        assert every == [f"servicenow:incident:{r['sys_id']}:created" for r in made]
        # ties are broken by sys_id, so the listing order and the cursor agree
        assert ServiceNowCursor.parse(cursor).after == made[-1]["sys_id"]
        again, _ = await drain(make_connector(fake), cursor)
        assert again == []

    async def test_a_record_updated_while_paging_does_not_hide_another(self) -> None:
        fake = FakeServiceNow()
        made = []
        for n in range(150):  # three a second: 50 s, all inside the overlap window
            made.append(fake.create(f"Ticket {n}"))
            fake.tick(0.34)
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        # Committed late: stamped among the listing's second hundred records.
        late = fake.create("Late", sys_updated_on=made[100]["sys_updated_on"])
        late["sys_id"] = "0" * 32  # first of its second: the 101st record listed
        fake.tick(120)

        def move_one_to_the_end(request: httpx.Request) -> None:
            if request.url.path == "/api/now/table/incident" and fake.after_request:
                fake.after_request = None  # after the first listing request only
                fake.update(made[10]["sys_id"], state="2")

        fake.after_request = move_one_to_the_end
        changes, cursor = await drain(connector, cursor)
        assert sorted(ids(changes)) == sorted(
            [
                f"servicenow:incident:{late['sys_id']}:created",
                f"servicenow:incident:{made[10]['sys_id']}:1:state",
            ]
        )
        again, _ = await drain(connector, cursor)
        assert again == []

    async def test_from_the_beginning_repeats_only_stable_ids(self) -> None:
        fake = readme_instance()
        connector = make_connector(fake)
        first, cursor = await drain(connector, None)
        fake.update(README_ID, state="2", comments="Restarted the mail relay.")
        newer, _ = await drain(connector, cursor)
        from_start, _ = await drain(make_connector(fake), None)
        assert set(ids(from_start)) <= set(ids(first + newer))

    async def test_a_record_with_many_entries_spans_pages(self) -> None:
        fake = FakeServiceNow()
        record = fake.create("Chatty")
        for n in range(150):
            fake.update(record["sys_id"], comments=f"note {n}")
        fake.tick(1)
        connector = make_connector(fake)
        first = await connector.changes_since(None)
        fake.update(record["sys_id"], state="2")  # changes between the pages
        second = await connector.changes_since(first.cursor)
        assert (len(first.changes), first.has_more) == (100, True)
        assert [c.kind for c in second.changes][-2:] == [
            ChangeKind.COMMENTED,
            ChangeKind.STATUS_CHANGED,
        ]
        assert len(second.changes) == 52
        assert second.changes[-2].body == "note 149"


class TestScope:
    async def test_other_groups_are_not_synced(self) -> None:
        fake = FakeServiceNow()
        fake.create("Ours")
        fake.create("Theirs", group=NETWORK)
        changes, _ = await drain(make_connector(fake), None)
        assert [c.ticket.title for c in changes] == ["Ours"]

    async def test_an_ignored_group_term_does_not_widen_the_scope(self) -> None:
        # § 1: an invalid part of a query is ignored, so the listing could hold every group.
        fake = FakeServiceNow()
        fake.ignored_fields = {"assignment_group"}
        fake.create("Ours")
        fake.create("Theirs", group=NETWORK)
        changes, _ = await drain(make_connector(fake), None)
        assert [c.ticket.title for c in changes] == ["Ours"]

    async def test_a_record_moved_into_the_group_is_first_seen(self) -> None:
        fake = FakeServiceNow()
        moved = fake.create("Theirs", group=NETWORK)
        fake.tick(3600)
        fake.create("Ours")
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.tick(600)
        fake.update(moved["sys_id"], assignment_group="d625dccec0a8016700a222a0f7900d06")
        changes, _ = await drain(connector, cursor)
        assert [(c.kind, c.payload.get("first_seen")) for c in changes] == [
            (ChangeKind.UPDATED, True)
        ]


class TestSyncFrom:
    async def test_starts_at_the_moment_knowing_open_records(self) -> None:
        fake = FakeServiceNow()
        old = fake.create("Old and open")
        fake.update(old["sys_id"], comments="old comment")
        fake.create("Old and closed", state="7", active="false")
        fake.tick(3600)
        connector = make_connector(fake)
        cursor = await connector.cursor_at(fake.now)
        fake.tick(120)
        fake.update(old["sys_id"], state="2", comments="new comment")
        new = fake.create("New")
        changes, _ = await drain(connector, cursor)
        assert [(c.kind, c.body) for c in changes] == [
            (ChangeKind.COMMENTED, "new comment"),
            (ChangeKind.STATUS_CHANGED, None),
            (ChangeKind.CREATED, ""),
        ]
        assert changes[-1].ticket.external_id == new["number"]


class TestMalformed:
    async def test_a_malformed_record_is_skipped_with_a_note(self) -> None:
        fake = FakeServiceNow()
        broken = fake.create("Broken")
        fake.create("Fine")
        broken["sys_created_on"] = "yesterday"
        page = await make_connector(fake).changes_since(None)
        assert [c.ticket.title for c in page.changes] == ["Fine"]
        assert broken["sys_id"] in page.notes[0]
        assert "malformed" in page.notes[0]

    async def test_a_malformed_journal_entry_is_skipped_with_a_note(self) -> None:
        fake = readme_instance()
        fake.journal(README_ID)[0]["sys_created_on"] = "26/09/2019 21:19"
        page = await make_connector(fake).changes_since(None)
        assert [c.kind for c in page.changes] == [ChangeKind.CREATED, ChangeKind.COMMENTED]
        assert "journal entry" in page.notes[0]


class TestCursorSize:
    async def test_closed_records_are_forgotten_once_out_of_the_window(self) -> None:
        fake = FakeServiceNow()
        closed = fake.create("Done", state="7", active="false")
        open_ = fake.create("Open")
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        assert set(ServiceNowCursor.parse(cursor).known) == {closed["sys_id"], open_["sys_id"]}
        fake.tick(600)
        fake.create("Later")
        _, cursor = await drain(connector, cursor)
        known = ServiceNowCursor.parse(cursor).known
        assert closed["sys_id"] not in known
        assert open_["sys_id"] in known
        assert MAX_KNOWN >= 1000
