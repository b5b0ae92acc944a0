"""`changes_since` over the peer README's examples (shared/peers/redmine/README.md § Read an
issue with journals, § List issues changed since a cursor, § Pagination, § Quirks)."""

from __future__ import annotations

import httpx

from connectors.base import ChangeKind, Person, Visibility
from tests.connectors.fake_support import drain
from tests.connectors.redmine.fake_redmine import FakeRedmine, fixture, make_connector


def readme_issue() -> FakeRedmine:
    fake = FakeRedmine()
    fake.load(fixture("issue_with_journals.json")["issue"])
    fake.tick(10)  # the README's writes are over: `updated_on` is settled
    return fake


class TestReadmeIssue:
    async def test_kinds_values_and_source_ids(self) -> None:
        changes, _ = await drain(make_connector(readme_issue()), None)
        got = [(c.source_id, c.kind, c.visibility, c.old_value, c.new_value) for c in changes]
        public, internal = Visibility.PUBLIC, Visibility.INTERNAL
        assert got == [
            ("redmine:issue:1:created", ChangeKind.CREATED, public, None, None),
            ("redmine:journal:1", ChangeKind.COMMENTED, public, None, None),
            ("redmine:journal:2", ChangeKind.COMMENTED, internal, None, None),
            (
                "redmine:journal:3:status_id",
                ChangeKind.STATUS_CHANGED,
                public,
                "new",
                "in_progress",
            ),
            ("redmine:journal:3:assigned_to_id", ChangeKind.ASSIGNED, public, None, "5"),
            (
                "redmine:journal:4:status_id",
                ChangeKind.STATUS_CHANGED,
                public,
                "in_progress",
                "pending",
            ),
            ("redmine:journal:5", ChangeKind.COMMENTED, internal, None, None),
            ("redmine:journal:6", ChangeKind.COMMENTED, public, None, None),
        ]

    async def test_comments_carry_journal_ids_and_text(self) -> None:
        changes, _ = await drain(make_connector(readme_issue()), None)
        comments = [c for c in changes if c.kind is ChangeKind.COMMENTED]
        assert [c.external_comment_id for c in comments] == ["1", "2", "5", "6"]
        assert comments[0].body == "Hi Eve, which VPN client version are you using?"

    async def test_status_payload_keeps_raw_names(self) -> None:
        changes, _ = await drain(make_connector(readme_issue()), None)
        status = next(c for c in changes if c.source_id == "redmine:journal:4:status_id")
        assert status.payload["raw_old"] == "In Progress"
        assert status.payload["raw_new"] == "Feedback"

    async def test_snapshot_and_people(self) -> None:
        changes, _ = await drain(make_connector(readme_issue()), None)
        snap = changes[0].ticket
        assert (snap.external_id, snap.status, snap.raw_status) == ("1", "pending", "Feedback")
        assert (snap.priority, snap.raw_priority) == ("P2", "High")
        assert snap.url == "http://redmine.test/issues/1"
        assert snap.requester is not None
        assert snap.requester.name == "Eve User"
        # Only admin keys read addresses (Redmine users hide them by default).
        assert snap.requester.email is None
        assert snap.assignee == Person("5", "Alice Agent", None)

    async def test_admin_key_reads_emails(self) -> None:
        changes, _ = await drain(make_connector(readme_issue(), key="admin-key"), None)
        assert changes[0].actor is not None
        assert changes[0].actor.email == "enduser@example.net"

    async def test_user_lookups_are_cached(self) -> None:
        fake = readme_issue()
        await drain(make_connector(fake), None)
        lookups = [r.url.path for r in fake.requests if r.url.path.startswith("/users/")]
        assert sorted(lookups) == ["/users/5.json", "/users/6.json"]

    async def test_end_user_key_does_not_see_private_journals(self) -> None:
        changes, _ = await drain(make_connector(readme_issue(), key="user-key"), None)
        assert all(c.visibility is Visibility.PUBLIC for c in changes)
        assert "redmine:journal:2" not in {c.source_id for c in changes}


class TestCursor:
    async def test_polling_again_yields_nothing(self) -> None:
        fake = readme_issue()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        again = await connector.changes_since(cursor)
        assert again.changes == []
        assert not again.has_more

    async def test_older_cursor_repeats_only_stable_ids(self) -> None:
        fake = readme_issue()
        connector = make_connector(fake)
        first, cursor = await drain(connector, None)
        fake.journal(1, 5, notes="Any news?")
        fake.tick(10)
        newer, _ = await drain(connector, cursor)
        from_start, _ = await drain(connector, None)
        assert [c.source_id for c in newer] == ["redmine:journal:7"]
        assert {c.source_id for c in from_start} == {c.source_id for c in first + newer}

    async def test_write_in_the_same_second_is_not_lost(self) -> None:
        # updated_on has whole seconds: a second write within it leaves it unchanged.
        fake = FakeRedmine()
        fake.create("Printer jammed")
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.journal(1, 5, notes="Same second")
        changes, cursor = await drain(connector, cursor)
        assert [c.source_id for c in changes] == ["redmine:journal:1"]
        fake.tick(10)
        changes, cursor = await drain(connector, cursor)
        assert changes == []

    async def test_overlap_window_rereads_without_repeating(self) -> None:
        fake = FakeRedmine()
        fake.create("First")
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        fake.tick(5)
        fake.create("Second")
        fake.tick(10)
        changes, _ = await drain(connector, cursor)
        assert [c.source_id for c in changes] == ["redmine:issue:2:created"]
        listing = [r for r in fake.requests if r.url.path == "/issues.json"][-1]
        assert listing.url.params["updated_on"] == ">=2026-11-28T20:36:42Z"


class TestQuirks:
    async def test_split_journal_of_status_change_with_private_note(self) -> None:
        fake = FakeRedmine()
        fake.create("VPN down")
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        update = {"status_id": 3, "notes": "Rebooted vpn-02.", "private_notes": True}
        await connector.client.update_issue(1, update)
        changes, _ = await drain(connector, cursor)
        got = [(c.source_id, c.kind, c.visibility, c.body) for c in changes]
        assert got == [
            ("redmine:journal:1:status_id", ChangeKind.RESOLVED, Visibility.PUBLIC, None),
            ("redmine:journal:2", ChangeKind.COMMENTED, Visibility.INTERNAL, "Rebooted vpn-02."),
        ]

    async def test_closed_issues_are_polled(self) -> None:
        fake = FakeRedmine()
        fake.create("Done already", status_id=5)
        changes, _ = await drain(make_connector(fake), None)
        assert [(c.kind, c.ticket.status) for c in changes] == [(ChangeKind.CREATED, "closed")]

    async def test_reopen(self) -> None:
        fake = FakeRedmine()
        fake.create("Flaky", status_id=5)
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        await connector.client.update_issue(1, {"status_id": 2})
        changes, _ = await drain(connector, cursor)
        assert [(c.kind, c.old_value, c.new_value) for c in changes] == [
            (ChangeKind.REOPENED, "closed", "in_progress")
        ]


class TestPaging:
    async def test_pages_hold_at_most_100_changes(self) -> None:
        fake = FakeRedmine()
        for n in range(230):
            fake.create(f"Issue {n}")
            fake.tick(0.01)
        fake.tick(10)
        connector = make_connector(fake)
        cursor, sizes, ids = None, [], []
        for _ in range(10):
            page = await connector.changes_since(cursor)
            sizes.append(len(page.changes))
            ids += [c.source_id for c in page.changes]
            cursor = page.cursor
            if not page.has_more:
                break
        assert sizes == [100, 100, 30]
        assert len(set(ids)) == len(ids) == 230
        limits = {r.url.params["limit"] for r in fake.requests if r.url.path == "/issues.json"}
        assert limits == {"100"}

    async def test_one_issue_with_many_journals_spans_pages(self) -> None:
        fake = FakeRedmine()
        fake.create("Chatty")
        for n in range(150):
            fake.journal(1, 5, notes=f"note {n}")
        fake.tick(10)
        connector = make_connector(fake)
        first = await connector.changes_since(None)
        second = await connector.changes_since(first.cursor)
        assert (len(first.changes), first.has_more) == (100, True)
        assert (len(second.changes), second.has_more) == (51, False)
        assert second.changes[-1].source_id == "redmine:journal:150"

    async def test_a_split_before_an_old_issue_does_not_replay_its_history(self) -> None:
        fake = FakeRedmine()
        fake.create("Old")
        for n in range(30):
            fake.journal(1, 5, notes=f"old {n}")
        fake.tick(3600)
        connector = make_connector(fake)
        cursor: str | None = await connector.cursor_at(fake.now)
        fake.create("Busy")  # 99 changes: issue 1's first journal (2 changes) will not fit
        for n in range(98):
            fake.journal(2, 5, notes=f"busy {n}")
        fake.tick(1)
        await connector.client.update_issue(1, {"status_id": 2, "notes": "new 0"})
        fake.tick(10)
        first = await connector.changes_since(cursor)
        second = await connector.changes_since(first.cursor)
        assert (len(first.changes), first.has_more) == (99, True)
        assert [c.kind for c in second.changes] == [ChangeKind.STATUS_CHANGED, ChangeKind.COMMENTED]


class TestMalformed:
    async def test_a_malformed_journal_is_skipped_with_a_note(self) -> None:
        fake = FakeRedmine()
        fake.create("Broken")
        fake.journal(1, 5, notes="fine")
        fake.issues[1]["journals"].append({"id": 99, "created_on": "yesterday"})
        fake.journal(1, 5, notes="also fine")
        fake.tick(10)
        page = await make_connector(fake).changes_since(None)
        assert [c.source_id for c in page.changes][1:] == [
            "redmine:journal:1",
            "redmine:journal:2",
        ]
        assert len(page.notes) == 1
        assert "journal 99" in page.notes[0]

    async def test_a_malformed_issue_does_not_stall(self) -> None:
        fake = FakeRedmine()
        fake.create("Broken")
        fake.create("Fine")
        del fake.issues[1]["subject"]
        fake.tick(10)
        connector = make_connector(fake)
        page = await connector.changes_since(None)
        assert [c.source_id for c in page.changes] == ["redmine:issue:2:created"]
        assert "issue #1" in page.notes[0]
        again = await connector.changes_since(page.cursor)
        assert (again.changes, again.notes) == ([], [])

    async def test_an_issue_gone_since_the_listing_is_skipped(self) -> None:
        fake = FakeRedmine()
        fake.create("Deleted soon")
        fake.faults["/issues/1.json"] = httpx_404()
        page = await make_connector(fake).changes_since(None)
        assert page.changes == []
        assert "issue #1: skipped" in page.notes[0]


def httpx_404() -> httpx.Response:
    return httpx.Response(404)
