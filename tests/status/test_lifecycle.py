"""The status rules as data: transitions, impacts, the worst-wins derivation."""

from __future__ import annotations

import pytest

from app.kit.errors import InvalidInput
from app.status.lifecycle import (
    check_impact,
    check_initial_status,
    check_transition,
    is_active,
    overall,
    readable_by,
    wider_than,
    worst,
)


class TestCheckTransition:
    @pytest.mark.parametrize(
        ("kind", "current", "new"),
        [
            ("incident", "investigating", "identified"),
            ("incident", "investigating", "resolved"),
            ("incident", "monitoring", "investigating"),
            ("incident", "resolved", "resolved"),
            ("maintenance", "scheduled", "in_progress"),
            ("maintenance", "in_progress", "completed"),
            ("maintenance", "completed", "completed"),
        ],
    )
    def test_allowed(self, kind: str, current: str, new: str) -> None:
        check_transition(kind, current, new)

    @pytest.mark.parametrize(
        ("kind", "current", "new"),
        [
            ("incident", "resolved", "investigating"),
            ("incident", "investigating", "in_progress"),
            ("maintenance", "scheduled", "completed"),
            ("maintenance", "in_progress", "scheduled"),
            ("maintenance", "completed", "in_progress"),
            ("maintenance", "scheduled", "resolved"),
        ],
    )
    def test_refused_naming_both_states(self, kind: str, current: str, new: str) -> None:
        with pytest.raises(InvalidInput) as caught:
            check_transition(kind, current, new)
        assert caught.value.code == "invalid_transition"
        assert caught.value.details["from"] == current
        assert caught.value.details["to"] == new
        assert current in caught.value.message
        assert new in caught.value.message

    def test_initial_status_per_kind(self) -> None:
        check_initial_status("maintenance", "scheduled")
        with pytest.raises(InvalidInput):
            check_initial_status("incident", "resolved")
        with pytest.raises(InvalidInput):
            check_initial_status("maintenance", "investigating")


def test_impact_matches_kind() -> None:
    check_impact("maintenance", "maintenance")
    check_impact("incident", "partial_outage")
    with pytest.raises(InvalidInput):
        check_impact("incident", "maintenance")
    with pytest.raises(InvalidInput):
        check_impact("maintenance", "major_outage")


def test_worst_impact_wins_and_maintenance_is_least_bad() -> None:
    assert worst([]) == "operational"
    assert worst(["maintenance"]) == "under_maintenance"
    assert worst(["maintenance", "degraded_performance"]) == "degraded_performance"
    assert worst(["partial_outage", "major_outage", "degraded_performance"]) == "major_outage"
    assert overall(["operational", "partial_outage"]) == ("major", "Partial system outage")
    assert overall([])[0] == "none"


def test_only_in_progress_maintenance_affects_services() -> None:
    assert not is_active("maintenance", "scheduled")
    assert is_active("maintenance", "in_progress")
    assert is_active("incident", "monitoring")
    assert not is_active("incident", "resolved")


def test_audiences() -> None:
    assert readable_by("public") == ("public",)
    assert "internal" not in readable_by("employees")
    assert wider_than("public", "employees")
    assert not wider_than("employees", "public")
