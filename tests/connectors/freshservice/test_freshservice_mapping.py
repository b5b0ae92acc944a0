"""Status and priority tables (contracts/freshservice/README.md § 5) and overrides."""

from __future__ import annotations

import pytest

from connectors.freshservice.mapping import raw_status
from tests.connectors.freshservice.fake import FakeFreshservice, make_connector


@pytest.mark.parametrize(
    ("status", "responder", "normalized"),
    [(2, None, "new"), (2, 7, "open"), (3, 7, "pending"), (4, 7, "resolved"), (5, None, "closed")],
)
def test_statuses(status: int, responder: int | None, normalized: str) -> None:
    connector = make_connector(FakeFreshservice())
    assert connector.normalize_status(raw_status(status, responder)) == normalized


@pytest.mark.parametrize(("value", "normalized"), [(1, "P4"), (2, "P3"), (3, "P2"), (4, "P1")])
def test_priorities(value: int, normalized: str) -> None:
    assert make_connector(FakeFreshservice()).normalize_priority(str(value)) == normalized


def test_overrides_for_custom_statuses_and_the_unassigned_rule() -> None:
    connector = make_connector(
        FakeFreshservice(), extra={"status_map.6": "in_progress", "status_map.2/unassigned": "open"}
    )
    assert connector.normalize_status("6") == "in_progress"
    assert connector.normalize_status(raw_status(2, None)) == "open"
    assert connector.normalize_status("17") == "open"  # unknown custom status
