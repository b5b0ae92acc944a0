"""Conditions: how a `when` evaluates, and what it provably pins down."""

from __future__ import annotations

from typing import Any

import pytest

from app.policy.engine.conditions import (
    PRIORITY_VALUES,
    STATUS_VALUES,
    evaluate_condition,
    pinned_values,
)
from app.policy.engine.document import Condition
from connectors.base import PRIORITIES, STATUSES

FACTS: dict[str, object] = {
    "event.type": "chat.message",
    "event.visibility": "public",
    "event.body": "The VPN at db01 is down again",
    "event.mentions": frozenset({5, 7}),
    "event.audience": None,
    "ticket.priority": "P2",
    "ticket.status": "open",
    "ticket.followable": False,
    "actor.role": "agent",
}


def _when(data: dict[str, Any]) -> Condition:
    return Condition.model_validate(data)


def _leaf(field: str, op: str, value: Any = None) -> Condition:
    data = {"field": field, "op": op} | ({} if value is None else {"value": value})
    return _when(data)


class TestEvaluate:
    @pytest.mark.parametrize(
        ("field", "op", "value", "expected"),
        [
            ("event.visibility", "eq", "public", True),
            ("event.visibility", "ne", "public", False),
            ("ticket.status", "in", ["open", "pending"], True),
            ("ticket.status", "not_in", ["open", "pending"], False),
            ("ticket.priority", "gt", "P3", True),  # P2 is more urgent than P3
            ("ticket.priority", "gte", "P2", True),
            ("ticket.priority", "lt", "P2", False),
            ("ticket.priority", "lte", "P1", True),
            ("ticket.priority", "gt", "P1", False),
            ("event.body", "contains", "vpn", True),  # case-insensitive
            ("event.body", "matches", r"db\d+", True),
            ("event.body", "matches", r"^down", False),
            ("event.mentions", "contains", 5, True),
            ("event.mentions", "contains", 6, False),
            ("event.mentions", "exists", True, True),
            ("ticket.followable", "eq", False, True),
            ("event.audience", "exists", False, True),
        ],
    )
    def test_operators(self, field: str, op: str, value: Any, expected: bool) -> None:
        held, (verdict,) = evaluate_condition(_leaf(field, op, value), FACTS)
        assert held is expected
        assert verdict.matched is expected

    @pytest.mark.parametrize(
        ("field", "op", "value"),
        [
            ("ticket.service", "eq", "mail"),
            ("ticket.service", "ne", "mail"),
            ("ticket.service", "in", ["mail"]),
            ("ticket.service", "not_in", ["mail"]),
            ("ticket.service", "contains", "m"),
            ("ticket.service", "matches", "."),
            ("ticket.service", "exists", None),
            ("event.new_status", "ne", "open"),
            ("event.audience", "not_in", ["internal"]),
        ],
    )
    def test_a_missing_fact_never_holds(self, field: str, op: str, value: Any) -> None:
        held, (verdict,) = evaluate_condition(_leaf(field, op, value), FACTS)
        assert held is False
        assert f"the event has no {field}" in verdict.sentence

    def test_every_leaf_is_explained_even_after_the_answer_is_known(self) -> None:
        when = _when({"any": [
            {"field": "event.visibility", "op": "eq", "value": "public"},
            {"not": {"field": "ticket.priority", "op": "eq", "value": "P1"}},
        ]})  # fmt: skip
        held, verdicts = evaluate_condition(when, FACTS)
        assert held is True
        assert [v.sentence for v in verdicts] == [
            "event.visibility is public: yes (it is public)",
            "ticket.priority is P1: no (it is P2)",
        ]

    def test_the_body_is_never_echoed_in_an_explanation(self) -> None:
        _, (verdict,) = evaluate_condition(_leaf("event.body", "contains", "vpn"), FACTS)
        assert "VPN" not in verdict.sentence
        assert "not shown" in verdict.sentence


def _vis(op: str, value: Any) -> dict[str, Any]:
    return {"field": "event.visibility", "op": op, "value": value}


P1 = {"field": "ticket.priority", "op": "eq", "value": "P1"}


class TestPinnedValues:
    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (_vis("eq", "public"), {"public"}),
            (_vis("ne", "internal"), {"public"}),
            (_vis("in", ["public"]), {"public"}),
            (_vis("not_in", ["public"]), {"internal"}),
            ({"not": _vis("eq", "internal")}, {"public"}),
            ({"not": {"not": _vis("eq", "public")}}, {"public"}),
            ({"all": [_vis("eq", "public"), P1]}, {"public"}),
            ({"any": [_vis("eq", "public"), _vis("eq", "internal")]}, {"public", "internal"}),
            ({"any": [_vis("eq", "public"), P1]}, None),
            ({"not": {"any": [_vis("eq", "internal"), {"field": "actor.role", "op": "eq",
                                                        "value": "agent"}]}}, {"public"}),
            ({"not": {"all": [_vis("eq", "internal"), {"field": "actor.role", "op": "eq",
                                                        "value": "agent"}]}}, None),
            (P1, None),
            ({"all": [_vis("eq", "public"), _vis("eq", "internal")]}, set()),
        ],
    )  # fmt: skip
    def test_pins(self, data: dict[str, Any], expected: set[str] | None) -> None:
        pinned = pinned_values(_when(data), "event.visibility")
        assert pinned == (None if expected is None else frozenset(expected))

    def test_free_text_fields_are_never_pinned(self) -> None:
        assert pinned_values(_leaf("ticket.service", "eq", "mail"), "ticket.service") is None


def test_the_vocabulary_matches_the_connector_contract() -> None:
    assert STATUS_VALUES == STATUSES
    assert PRIORITY_VALUES == PRIORITIES
