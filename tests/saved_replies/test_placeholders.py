"""Placeholders: which are known, and what they become on a ticket."""

from __future__ import annotations

import pytest

from app.saved_replies.placeholders import (
    ReplyContext,
    expand,
    first_name,
    unknown_placeholders,
)

CONTEXT = ReplyContext(
    requester_name="Erin O'Neill",
    ticket_number="#4711",
    ticket_title="VPN drops every 10 minutes",
    agent_name="Alex Agent",
)


class TestExpand:
    def test_every_placeholder_is_filled_in(self) -> None:
        text = (
            "Hi {{requester.first_name}} ({{requester.name}}), {{ticket.number}} "
            '"{{ticket.title}}" is with me. {{agent.first_name}}'
        )
        expanded = expand(text, CONTEXT)
        assert expanded.text == (
            'Hi Erin (Erin O\'Neill), #4711 "VPN drops every 10 minutes" is with me. Alex'
        )
        assert expanded.missing == ()

    def test_spaces_inside_the_braces_are_allowed(self) -> None:
        assert expand("Hi {{ requester.first_name }}!", CONTEXT).text == "Hi Erin!"

    def test_a_value_the_ticket_lacks_is_empty_and_reported(self) -> None:
        anonymous = ReplyContext(None, "T-1", "Printer", "Alex Agent")
        expanded = expand("Hi {{requester.first_name}}, {{requester.name}}", anonymous)
        assert expanded.text == "Hi , "
        assert expanded.missing == ("requester.first_name", "requester.name")

    def test_values_are_not_expanded_again(self) -> None:
        sneaky = ReplyContext("{{agent.first_name}}", "T-1", "{{ticket.number}}", "Alex")
        assert expand("{{requester.name}} {{ticket.title}}", sneaky).text == (
            "{{agent.first_name}} {{ticket.number}}"
        )


class TestUnknown:
    def test_unknown_names_each_once_in_order(self) -> None:
        text = "{{requester.email}} {{ ticket.number }} {{foo}} {{requester.email}} {{}}"
        assert unknown_placeholders(text) == ["requester.email", "foo", ""]

    def test_single_braces_and_broken_ones_are_plain_text(self) -> None:
        assert unknown_placeholders("{requester} {{ticket.number} {{a\nb}}") == []


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("Erin O'Neill", "Erin"),
        ("  Erin  ", "Erin"),
        ("Doe, Jane", "Jane"),
        ("Jane Doe, PhD", "Jane"),
        ("Madonna", "Madonna"),
        ("", ""),
        (None, ""),
    ],
)
def test_first_name(name: str | None, first: str) -> None:
    assert first_name(name) == first
