"""States, priorities and the record shape (contracts/servicenow/README.md § 1 Response body,
§ 5 Incident `state` values, § 9 timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import ConfigError
from connectors.servicenow.mapping import effective_priority
from connectors.servicenow.models import Record
from tests.connectors.servicenow.fake import FakeServiceNow, fixture, make_connector


def problem_sample() -> Record:
    return Record.model_validate(fixture("table_get_problem.json")["result"][0])


class TestRecordShape:
    def test_the_contract_sample_parses(self) -> None:
        record = problem_sample()
        assert record.sys_id == "04ce72c9c0a8016600b5b7f75ac67b5b"
        assert record.opened_by == "glide.maint"  # a {"link", "value"} reference
        assert record.sys_mod_count == 1  # "1": every value is a string
        assert record.sys_updated_on == datetime(2016, 1, 19, 4, 52, 4, tzinfo=UTC)
        assert record.assigned_to == ""
        assert record.external_id == "PRB0000050"

    def test_a_non_incident_table_maps_inactive_records_to_closed(self) -> None:
        connector = make_connector(FakeServiceNow(), table="problem")
        snap = connector._translator().snapshot(problem_sample())
        # Problem states differ from incident states (§ 5): `active=false` decides.
        assert (snap.status, snap.raw_status) == ("closed", "4")
        assert (snap.priority, snap.raw_priority) == ("P4", "4")
        assert (
            snap.url
            == "https://acme.service-now.com/problem.do?sys_id=04ce72c9c0a8016600b5b7f75ac67b5b"
        )


class TestStates:
    @pytest.mark.parametrize(
        ("state", "normalized", "label"),
        [
            ("1", "new", "New"),
            ("2", "in_progress", "In Progress"),
            ("3", "pending", "On Hold"),
            ("4", "pending", "Awaiting User Info"),  # the old model, on upgraded instances
            ("5", "pending", "Awaiting Evidence"),
            ("6", "resolved", "Resolved"),
            ("7", "closed", "Closed"),
            ("8", "closed", "Canceled"),
        ],
    )
    async def test_incident_state_model(self, state: str, normalized: str, label: str) -> None:
        fake = FakeServiceNow()
        record = fake.create("x", state=state)
        snap = await make_connector(fake).get_ticket(record["number"])
        assert (snap.status, snap.raw_status) == (normalized, label)

    def test_unknown_states_follow_active(self) -> None:
        connector = make_connector(FakeServiceNow())
        assert connector._status_of("-5", "true") == "open"
        assert connector._status_of("-5", "false") == "closed"

    def test_overrides_by_value_or_by_name(self) -> None:
        connector = make_connector(
            FakeServiceNow(),
            extra={"status_map.-5": "pending", "status_map.on hold": "in_progress"},
        )
        assert connector._status_of("-5", "true") == "pending"
        assert connector._status_of("3", "true") == "in_progress"
        assert connector._status_of("6", "false") == "resolved"

    def test_an_override_must_be_a_normalized_status(self) -> None:
        with pytest.raises(ConfigError, match="status_map values"):
            make_connector(FakeServiceNow(), extra={"status_map.3": "waiting"})


class TestPriorities:
    @pytest.mark.parametrize(
        ("priority", "normalized"),
        [("1", "P1"), ("2", "P2"), ("3", "P3"), ("4", "P4"), ("5", "P4")],
    )
    async def test_priority_values(self, priority: str, normalized: str) -> None:
        fake = FakeServiceNow()
        record = fake.create("x", priority=priority)
        snap = await make_connector(fake).get_ticket(record["number"])
        assert (snap.priority, snap.raw_priority) == (normalized, priority)

    @pytest.mark.parametrize(
        ("impact", "urgency", "priority"),
        [("1", "1", "1"), ("1", "2", "2"), ("2", "2", "3"), ("3", "2", "4"), ("3", "3", "5")],
    )
    def test_impact_and_urgency_give_a_missing_priority(
        self, impact: str, urgency: str, priority: str
    ) -> None:
        assert effective_priority("", impact, urgency) == priority
        assert effective_priority("2", impact, urgency) == "2"  # a set priority wins

    async def test_a_record_without_priority(self) -> None:
        fake = FakeServiceNow()
        record = fake.create("x", priority="", impact="1", urgency="1")
        snap = await make_connector(fake).get_ticket(record["number"])
        assert snap.priority == "P1"
