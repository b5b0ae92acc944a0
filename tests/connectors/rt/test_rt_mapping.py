"""Status and priority tables (shared/peers/rt/README.md § Status / lifecycle; the numeric
priorities of § Other quirks: "reported with labels but stored and returned as numbers")."""

from __future__ import annotations

import pytest

from connectors.base import STATUSES, ChangeKind, NormalizedStatus, status_kind
from connectors.rt.mapping import STATUS_MAP
from tests.connectors.rt.fake_rt import FakeRT, make_connector


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("new", "new"),
        ("open", "open"),
        ("stalled", "pending"),
        ("resolved", "resolved"),
        ("rejected", "closed"),
        ("deleted", "closed"),
        ("Bogus", "open"),
    ],
)
def test_default_lifecycle(raw: str, normalized: str) -> None:
    assert make_connector(FakeRT()).normalize_status(raw) == normalized


def test_status_map_values_are_normalized() -> None:
    assert set(STATUS_MAP.values()) <= set(STATUSES)


def test_instance_override_wins() -> None:
    connector = make_connector(FakeRT(), **{"status_map.stalled": "in_progress"})
    assert connector.normalize_status("stalled") == "in_progress"


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("0", "P4"),  # RT's default for a ticket nobody prioritised ("Low")
        ("39", "P4"),
        ("40", "P3"),
        ("50", "P3"),  # "Medium"
        ("69", "P3"),
        ("70", "P2"),
        ("89", "P2"),
        ("90", "P1"),
        ("100", "P1"),  # "High"
        ("-5", "P4"),
        ("Medium", "P3"),  # a label, should one ever arrive
        ("High", "P1"),
        ("whatever", "P3"),
    ],
)
def test_priority_bands(raw: str, normalized: str) -> None:
    assert make_connector(FakeRT()).normalize_priority(raw) == normalized


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("new", "open", ChangeKind.STATUS_CHANGED),
        ("open", "resolved", ChangeKind.RESOLVED),
        ("pending", "closed", ChangeKind.RESOLVED),
        ("resolved", "open", ChangeKind.REOPENED),
        ("closed", "resolved", ChangeKind.STATUS_CHANGED),
    ],
)
def test_status_kind(old: NormalizedStatus, new: NormalizedStatus, kind: ChangeKind) -> None:
    assert status_kind(old, new) is kind
