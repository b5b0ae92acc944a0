"""Placeholders in saved replies: which exist, and their expansion for one ticket (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# `{{ name }}`, spaces inside the braces allowed; one line at most.
PLACEHOLDER = re.compile(r"\{\{([^{}\n]*)\}\}")

PLACEHOLDERS: dict[str, str] = {
    "requester.first_name": "the requester's first name",
    "requester.name": "the requester's full name",
    "ticket.number": "the ticket's number in the ticketing system",
    "ticket.title": "the ticket's title",
    "agent.first_name": "your first name (the agent inserting the reply)",
}


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What the placeholders stand for on one ticket, for one agent."""

    requester_name: str | None
    ticket_number: str
    ticket_title: str
    agent_name: str | None


@dataclass(frozen=True, slots=True)
class Expansion:
    text: str
    missing: tuple[str, ...]  # placeholders with no value here (expanded to nothing)


def unknown_placeholders(text: str) -> list[str]:
    """The placeholders in `text` that are not in PLACEHOLDERS, each once, in order."""
    found = (match.group(1).strip() for match in PLACEHOLDER.finditer(text))
    return list(dict.fromkeys(name for name in found if name not in PLACEHOLDERS))


def first_name(name: str | None) -> str:
    """The first word of a name; "Doe, Jane" (directory order) gives Jane."""
    if not name:
        return ""
    family, comma, given = name.partition(",")
    if comma and given.strip() and len(family.split()) == 1:
        name = given
    words = name.split()
    return words[0] if words else ""


def _values(context: ReplyContext) -> dict[str, str]:
    return {
        "requester.first_name": first_name(context.requester_name),
        "requester.name": (context.requester_name or "").strip(),
        "ticket.number": context.ticket_number,
        "ticket.title": context.ticket_title,
        "agent.first_name": first_name(context.agent_name),
    }


def expand(text: str, context: ReplyContext) -> Expansion:
    """`text` with every known placeholder replaced; unknown ones are left as written."""
    values = _values(context)
    missing: dict[str, None] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name not in values:
            return match.group(0)
        if not values[name]:
            missing[name] = None
        return values[name]

    return Expansion(PLACEHOLDER.sub(replace, text), tuple(missing))
