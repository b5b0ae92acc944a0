"""`changes_since` over the peer README's history (shared/peers/rt/README.md § History /
transactions, § Status / lifecycle, § Pagination, § Public reply vs internal comment)."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.base import ChangeKind, Visibility
from connectors.rt.cursor import RTCursor
from tests.connectors.fake_support import drain
from tests.connectors.rt.fake_rt import FakeRT, make_connector

PUBLIC, INTERNAL = Visibility.PUBLIC, Visibility.INTERNAL


def readme_ticket() -> FakeRT:
    fake = FakeRT()
    fake.load("history.json")
    return fake


class TestReadmeHistory:
    async def test_kinds_and_source_ids(self) -> None:
        changes, _ = await drain(make_connector(readme_ticket()), None)
        got = [(c.source_id, c.kind, c.visibility, c.old_value, c.new_value) for c in changes]
        assert got == [
            ("rt:txn:46", ChangeKind.CREATED, PUBLIC, None, None),
            ("rt:txn:60", ChangeKind.COMMENTED, PUBLIC, None, None),
            ("rt:txn:62", ChangeKind.STATUS_CHANGED, PUBLIC, "new", "open"),
            ("rt:txn:63", ChangeKind.COMMENTED, INTERNAL, None, None),
            ("rt:txn:64", ChangeKind.COMMENTED, PUBLIC, None, None),
            ("rt:txn:67", ChangeKind.RESOLVED, PUBLIC, "open", "resolved"),
        ]

    async def test_messages_bodies_and_comment_ids(self) -> None:
        changes, _ = await drain(make_connector(readme_ticket()), None)
        bodies = {c.source_id: (c.body, c.external_comment_id) for c in changes if c.body}
        assert bodies == {
            "rt:txn:46": ("Error 809 since this morning.", None),
            "rt:txn:60": ("Please reinstall the VPN profile.", "60"),
            "rt:txn:63": ("Internal: gateway cert rotated yesterday.", "63"),
            "rt:txn:64": ("Done, it works again. Thanks!", "64"),
        }

    async def test_actors_and_snapshot(self) -> None:
        changes, _ = await drain(make_connector(readme_ticket()), None)
        actors = [c.actor.external_id if c.actor else None for c in changes]
        assert actors == ["agent", "agent", "RT_System", "agent", "customer", "agent"]
        assert changes[0].actor is not None
        assert changes[0].actor.email == "agent@example.com"
        snap = changes[-1].ticket
        assert (snap.external_id, snap.status, snap.priority, snap.raw_priority) == (
            "1",
            "resolved",
            "P4",
            "0",
        )
        assert snap.description == "Error 809 since this morning."
        assert snap.assignee is None  # Nobody
        assert snap.requester is not None
        assert (snap.requester.external_id, snap.requester.email) == (
            "customer",
            "customer@example.com",
        )
        assert snap.url == "http://rt.test/Ticket/Display.html?id=1"

    async def test_mail_copies_and_watchers_are_not_asked_for(self) -> None:
        fake = readme_ticket()
        await drain(make_connector(fake), None)
        query = next(r for r in fake.requests if r.url.path.endswith("/transactions"))
        assert "EmailRecord" not in query.url.params["query"]
        assert "Type = 'Correspond'" in query.url.params["query"]


class TestFieldChanges:
    async def test_owner_priority_and_subject(self) -> None:
        fake = FakeRT()
        fake.load("field_changes.json", ticket_id=2)
        changes, _ = await drain(make_connector(fake), None)
        got = [(c.source_id, c.kind, c.old_value, c.new_value) for c in changes]
        assert got == [
            ("rt:txn:70", ChangeKind.CREATED, None, None),
            ("rt:txn:73", ChangeKind.ASSIGNED, None, "agent"),  # Nobody → agent
            ("rt:txn:75", ChangeKind.ASSIGNED, "agent", "root"),
            ("rt:txn:77", ChangeKind.PRIORITY_CHANGED, "P4", "P3"),  # Low → Medium
            ("rt:txn:78", ChangeKind.UPDATED, "Printer jammed", "Printer jammed (3rd floor)"),
        ]
        assert changes[1].payload["new_email"] == "agent@example.com"

    async def test_owner_ids_are_looked_up_once(self) -> None:
        fake = FakeRT()
        fake.load("field_changes.json", ticket_id=2)
        await drain(make_connector(fake), None)
        lookups = sorted(r.url.path for r in fake.requests if "/user/" in r.url.path)
        assert lookups == ["/REST/2.0/user/14", "/REST/2.0/user/31", "/REST/2.0/user/6"]


class TestCursor:
    async def test_polling_again_yields_nothing(self) -> None:
        connector = make_connector(readme_ticket())
        _, cursor = await drain(connector, None)
        page = await connector.changes_since(cursor)
        assert (page.changes, page.has_more) == ([], False)

    async def test_new_transactions_after_the_cursor(self) -> None:
        fake = readme_ticket()
        connector = make_connector(fake)
        first, cursor = await drain(connector, None)
        fake.tick(30)
        fake.message(1, "Correspond", "customer", "It broke again.")
        newer, _ = await drain(connector, cursor)
        assert [(c.kind, c.body) for c in newer] == [(ChangeKind.COMMENTED, "It broke again.")]
        again, _ = await drain(connector, None)
        assert {c.source_id for c in again} == {c.source_id for c in first + newer}

    async def test_a_late_commit_inside_the_overlap_is_found(self) -> None:
        fake = readme_ticket()
        connector = make_connector(fake)
        _, cursor = await drain(connector, None)
        # id 66 becomes visible only now (its database transaction committed late)
        fake.add_txn(1, ["66", "Comment", "", "", "", "2026-11-28T20:34:08Z", "agent"], "late")
        late, _ = await drain(connector, cursor)
        assert [c.source_id for c in late] == ["rt:txn:66"]

    def test_ids_older_than_the_overlap_fold_into_after(self) -> None:
        cursor = RTCursor.parse(None)
        for txn_id, second in ((10, 0), (11, 5), (12, 20), (13, 25)):
            cursor.emitted(txn_id, fake_time(second))
        restored = RTCursor.parse(cursor.dump())
        assert restored.after == 11
        assert set(restored.seen) == {12, 13}


class TestPaging:
    async def test_pages_hold_at_most_100_changes(self) -> None:
        fake = FakeRT()
        fake.add_ticket(1, "Busy", ["customer"])
        for n in range(230):
            fake.message(1, "Comment", "agent", f"note {n}")
        connector = make_connector(fake)
        sizes, ids, cursor = [], [], None
        for _ in range(10):
            page = await connector.changes_since(cursor)
            sizes.append(len(page.changes))
            ids += [c.source_id for c in page.changes]
            cursor = page.cursor
            if not page.has_more:
                break
        assert sizes == [100, 100, 30]
        assert len(set(ids)) == 230

    async def test_filtered_short_pages_do_not_end_the_poll_early(self) -> None:
        # For non-SuperUsers RT filters pages after paging: the customer sees gaps.
        fake = FakeRT()
        fake.add_ticket(1, "Mine", ["customer"])
        for n in range(150):
            fake.message(1, "Comment" if n % 3 else "Correspond", "agent", f"m{n}")
        changes, _ = await drain(make_connector(fake, token="user-token"), None)
        replies = [c for c in changes if c.kind is ChangeKind.COMMENTED]
        assert len(replies) == 50
        assert {c.visibility for c in replies} == {PUBLIC}
        assert [c.kind for c in changes if c not in replies] == [ChangeKind.STATUS_CHANGED]


class TestMalformed:
    async def test_a_malformed_transaction_is_skipped_with_a_note(self) -> None:
        fake = readme_ticket()
        fake.add_txn(1, ["65", "Correspond", "", "", "", "not a date", "agent"], "x")
        fake.tickets[1]["LastUpdated"] = "2026-11-28T20:34:08Z"
        connector = make_connector(fake)
        page = await connector.changes_since(None)
        assert "rt:txn:65" not in {c.source_id for c in page.changes}
        assert len(page.changes) == 6
        assert "transaction '65'" in page.notes[0]
        again = await connector.changes_since(page.cursor)
        assert (again.changes, again.notes) == ([], [])


def fake_time(second: int) -> datetime:
    return datetime(2026, 11, 28, 20, 0, second, tzinfo=UTC)
