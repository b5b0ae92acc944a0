"""Status and priority tables (shared/peers/redmine/README.md § Test data: default data)."""

from __future__ import annotations

import pytest

from connectors.base import STATUSES, ChangeKind, NormalizedStatus, status_kind
from connectors.redmine.mapping import PRIORITY_MAP, STATUS_MAP
from tests.connectors.redmine.fake_redmine import FakeRedmine, fixture, make_connector


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("New", "new"),
        ("In Progress", "in_progress"),
        ("Resolved", "resolved"),
        ("Feedback", "pending"),
        ("Closed", "closed"),
        ("Rejected", "closed"),
    ],
)
def test_default_statuses(raw: str, normalized: str) -> None:
    assert STATUS_MAP[raw] == normalized


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("Immediate", "P1"), ("Urgent", "P1"), ("High", "P2"), ("Normal", "P3"), ("Low", "P4")],
)
def test_default_priorities(raw: str, normalized: str) -> None:
    assert make_connector(FakeRedmine()).normalize_priority(raw) == normalized
    assert PRIORITY_MAP[raw] == normalized


def test_every_default_status_and_priority_is_mapped() -> None:
    ref = fixture("reference_data.json")
    assert {s["name"] for s in ref["issue_statuses"]} == set(STATUS_MAP)
    assert {p["name"] for p in ref["issue_priorities"]} == set(PRIORITY_MAP)
    assert set(STATUS_MAP.values()) <= set(STATUSES)


class TestStatusOf:
    def test_unknown_closed_status_counts_as_closed(self) -> None:
        assert make_connector(FakeRedmine())._status_of("Won't fix", True) == "closed"

    def test_unknown_open_status_counts_as_open(self) -> None:
        assert make_connector(FakeRedmine())._status_of("Waiting on vendor", False) == "open"

    def test_instance_override_wins(self) -> None:
        connector = make_connector(FakeRedmine(), **{"status_map.Feedback": "open"})
        assert connector._status_of("feedback", False) == "open"
        assert connector._status_of("Rejected", True) == "closed"


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("new", "in_progress", ChangeKind.STATUS_CHANGED),
        ("in_progress", "resolved", ChangeKind.RESOLVED),
        ("pending", "closed", ChangeKind.RESOLVED),
        ("resolved", "closed", ChangeKind.STATUS_CHANGED),
        ("closed", "in_progress", ChangeKind.REOPENED),
        ("resolved", "new", ChangeKind.REOPENED),
        (None, "new", ChangeKind.STATUS_CHANGED),
    ],
)
def test_status_kind(old: NormalizedStatus | None, new: NormalizedStatus, kind: ChangeKind) -> None:
    assert status_kind(old, new) is kind
