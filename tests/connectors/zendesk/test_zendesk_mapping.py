"""Statuses, priorities and the documented ticket and comment (contracts/zendesk/README.md
§ 1a example ticket 35436, § 2 example comment 1274, § 5 statuses)."""

from __future__ import annotations

import pytest

from connectors.base import ChangeKind, Person, Visibility
from tests.connectors.fake_support import drain
from tests.connectors.zendesk.fake import FakeZendesk, make_connector


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("new", "new"),
        ("open", "open"),
        ("pending", "pending"),
        ("hold", "pending"),
        ("solved", "resolved"),
        ("closed", "closed"),
        ("deleted", "closed"),
        ("something-custom", "open"),
    ],
)
def test_statuses(raw: str, normalized: str) -> None:
    assert make_connector(FakeZendesk()).normalize_status(raw) == normalized


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("urgent", "P1"), ("high", "P2"), ("normal", "P3"), ("low", "P4"), ("", "P3")],
)
def test_priorities(raw: str, normalized: str) -> None:
    assert make_connector(FakeZendesk()).normalize_priority(raw) == normalized


def test_status_overrides_win() -> None:
    connector = make_connector(FakeZendesk(), extra={"status_map.hold": "in_progress"})
    assert connector.normalize_status("hold") == "in_progress"


async def test_the_documented_ticket_and_comment() -> None:
    fake = FakeZendesk()
    fake.load_readme_ticket()
    changes, _ = await drain(make_connector(fake), None)
    assert [(c.kind, c.visibility, c.body) for c in changes] == [
        (ChangeKind.CREATED, Visibility.PUBLIC, None),
        (ChangeKind.COMMENTED, Visibility.PUBLIC, "Thanks for your help!"),
    ]
    snap = changes[-1].ticket
    assert (snap.external_id, snap.title) == ("35436", "Help, my printer is on fire!")
    assert (snap.status, snap.raw_status, snap.priority, snap.raw_priority) == (
        "open",
        "open",
        "P2",
        "high",
    )
    assert snap.assignee == Person("235323", "Alex Agent", "alex.agent@acme.example")
    assert snap.requester == Person("20978392", "Rita Requester", "rita@example.com")
    assert snap.description == "The fire is very colorful."  # the first comment is public
    assert snap.service == "incident"
    assert snap.url == "https://acme.zendesk.com/agent/tickets/35436"
    assert changes[1].actor == Person("123123", "Sam Submitter", "sam@example.com")
    assert changes[1].external_comment_id == "1274"
