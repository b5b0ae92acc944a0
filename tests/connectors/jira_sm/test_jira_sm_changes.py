"""`changes_since` over the contract's shapes (contracts/jira-sm/README.md § 1a JQL search,
§ 1c changelog, § 2b request comments): exactly once across restarts, the overlap window,
issues sharing one minute (JQL's resolution) or one millisecond, and paging."""

from __future__ import annotations

import json
from datetime import timedelta

from connectors.base import ChangeKind, Person, Visibility
from tests.connectors.fake_support import drain, ids
from tests.connectors.jira_sm.fake import FakeJira, make_connector, searches


def one_request() -> tuple[FakeJira, dict[str, object]]:
    fake = FakeJira()
    return fake, fake.create("VPN drops every ten minutes")


class TestHistory:
    async def test_created_comments_with_visibility_then_changes(self) -> None:
        fake, _ = one_request()
        fake.tick(5)
        fake.comment("ITSD-1", "Which VPN client do you use?", public=True)
        fake.tick(5)
        fake.comment("ITSD-1", "Probably vpn-02 again.", public=False)
        fake.tick(5)
        beth = fake.account("beth").account_id
        fake.change("ITSD-1", status="In Progress", assignee=beth, priority="Highest")
        changes, _ = await drain(make_connector(fake), None)
        got = [(c.kind, c.visibility, c.old_value, c.new_value) for c in changes]
        assert got == [
            (ChangeKind.CREATED, Visibility.PUBLIC, None, None),
            (ChangeKind.COMMENTED, Visibility.PUBLIC, None, None),
            (ChangeKind.COMMENTED, Visibility.INTERNAL, None, None),
            (ChangeKind.STATUS_CHANGED, Visibility.PUBLIC, "open", "in_progress"),
            (ChangeKind.ASSIGNED, Visibility.PUBLIC, None, beth),
            (ChangeKind.PRIORITY_CHANGED, Visibility.PUBLIC, "P3", "P1"),
        ]
        assert changes[1].body == "Which VPN client do you use?"
        assert changes[4].payload["new_name"] == "Beth Agent"
        assert changes[3].actor == Person(beth, "Beth Agent", "beth@example.com")
        snap = changes[-1].ticket
        assert (snap.external_id, snap.status, snap.priority) == ("ITSD-1", "in_progress", "P1")
        fred = fake.account("fred")
        assert snap.requester == Person(fred.account_id, "Fred Customer", fred.email)
        assert snap.url == "https://acme.atlassian.net/browse/ITSD-1"
        assert snap.description == "VPN drops every ten minutes"

    async def test_resolve_and_reopen(self) -> None:
        fake, _ = one_request()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.tick(61)
        fake.change("ITSD-1", status="Resolved")
        changes, cursor = await drain(connector, cursor)
        assert [(c.kind, c.new_value) for c in changes] == [(ChangeKind.RESOLVED, "resolved")]
        fake.tick(61)
        fake.change("ITSD-1", status="Waiting for customer", by="fred")
        changes, _ = await drain(connector, cursor)
        assert [(c.kind, c.old_value, c.new_value) for c in changes] == [
            (ChangeKind.REOPENED, "resolved", "pending")
        ]

    async def test_other_projects_and_unmirrored_fields_are_left_out(self) -> None:
        fake, _ = one_request()
        fake.create("Payroll question", project="HR")
        fake.change("ITSD-1", labels="vpn")
        changes, _ = await drain(make_connector(fake), None)
        assert [c.kind for c in changes] == [ChangeKind.CREATED]
        assert 'project = "ITSD"' in searches(fake)[0].url.params["jql"]


class TestExactlyOnce:
    async def test_polling_again_yields_nothing(self) -> None:
        fake, _ = one_request()
        fake.comment("ITSD-1", "Hello", public=True)
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        again = await connector.changes_since(cursor)
        assert (again.changes, again.has_more) == ([], False)

    async def test_a_restart_resumes_from_the_stored_cursor(self) -> None:
        fake, _ = one_request()
        _, cursor = await drain(make_connector(fake), None)
        fake.tick(10)
        fake.comment("ITSD-1", "Still broken", public=True, by="fred")
        fake.create("Second")
        stored = json.loads(json.dumps(cursor))
        changes, cursor = await drain(make_connector(fake), stored)  # a new process
        assert [c.kind for c in changes] == [ChangeKind.COMMENTED, ChangeKind.CREATED]
        changes, _ = await drain(make_connector(fake), cursor)
        assert changes == []

    async def test_the_overlap_window_rereads_from_the_minute(self) -> None:
        fake, _ = one_request()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.tick(20)
        fake.create("Second")
        changes, cursor = await drain(connector, cursor)
        assert [c.ticket.title for c in changes] == ["Second"]
        fake.tick(20)
        changes, _ = await drain(connector, cursor)
        assert changes == []
        # 20:36:52.250 + 20 s - 60 s = 20:36:12, rounded down to its minute.
        assert 'updated >= "2026/11/28 20:36"' in searches(fake)[-1].url.params["jql"]
        assert searches(fake)[-1].url.params["jql"].endswith("ORDER BY updated ASC, id ASC")

    async def test_a_late_commit_inside_the_window_is_not_lost(self) -> None:
        fake, _ = one_request()
        fake.tick(30)
        fake.create("Newer")
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        late = fake.create("Late", updated=fake.now - timedelta(seconds=20))
        changes, _ = await drain(connector, cursor)
        assert ids(changes) == [f"jira_sm:{late['id']}:created"]

    async def test_issues_sharing_one_millisecond_across_pages(self) -> None:
        fake = FakeJira()
        for n in range(7):
            fake.create(f"Request {n}")  # all at the same instant
        fake.search_page = 3
        connector = make_connector(fake)
        changes, cursor = await drain(connector, None)
        assert [c.ticket.title for c in changes] == [f"Request {n}" for n in range(7)]
        fake.tick(1)
        fake.comment("ITSD-4", "Update on 4", public=True)
        changes, _ = await drain(connector, cursor)
        assert [(c.kind, c.ticket.external_id) for c in changes] == [
            (ChangeKind.COMMENTED, "ITSD-4")
        ]

    async def test_a_page_full_mid_issue_resumes_without_repeats(self) -> None:
        fake, _ = one_request()
        for n in range(130):
            fake.tick(1)
            fake.comment("ITSD-1", f"note {n}", public=n % 2 == 0)
        connector = make_connector(fake)
        first = await connector.changes_since(None)
        assert (len(first.changes), first.has_more) == (100, True)
        rest, cursor = await drain(make_connector(fake), first.cursor)
        everything = first.changes + rest
        assert len(everything) == 131
        assert len(set(ids(everything))) == 131
        assert (await make_connector(fake).changes_since(cursor)).changes == []

    async def test_sync_from_starts_at_a_moment(self) -> None:
        fake, _ = one_request()
        fake.tick(600)
        connector = make_connector(fake)
        cursor = await connector.cursor_at(fake.now)
        fake.tick(5)
        fake.comment("ITSD-1", "After the start", public=True)
        fake.create("New one")
        changes, _ = await drain(connector, cursor)
        assert [c.kind for c in changes] == [ChangeKind.COMMENTED, ChangeKind.CREATED]


class TestMalformed:
    async def test_a_malformed_issue_is_skipped_with_a_note(self) -> None:
        fake, _ = one_request()
        fake.create("Broken", created="not a date")
        page = await make_connector(fake).changes_since(None)
        assert [c.ticket.title for c in page.changes] == ["VPN drops every ten minutes"]
        assert len(page.notes) == 1
        assert "ITSD-2" in page.notes[0]
