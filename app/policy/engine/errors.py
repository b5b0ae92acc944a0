"""Policy validation problems, phrased for the person who wrote the YAML.

Every problem names the rule (its id, or `#n` when it has none), the field path inside the
rule (`when.all[0].op`), the YAML line, and a sentence. The API returns them as a 422.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import yaml
from pydantic import ValidationError

Loc = tuple[int | str, ...]
LineOf = Callable[[Loc], int | None]

# Key names of every model in the document, for "did you mean" hints on unknown keys.
KNOWN_KEYS = (
    "rules", "redaction", "approval", "id", "on", "to", "via", "when", "timing",
    "respect_quiet_hours", "require_approval", "notify_actor", "all", "any", "not", "field",
    "op", "value", "delay", "digest", "profiles", "internal_domains", "custom_patterns",
    "name", "pattern", "label", "two_person_rule",
)  # fmt: skip
# What the values under a key are called, for "not a known <noun>" messages.
_NOUNS = {"on": "event type", "to": "audience", "via": "channel", "digest": "digest cadence"}
# Pydantic names the members of a union in the location; they mean nothing to a reader.
_UNION_TAGS = {"str", "int", "float", "bool", "none", "list"}


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One problem in a policy document."""

    rule: str | None
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line else []
        where += [f"rule {self.rule!r}"] if self.rule else []
        where += [self.path] if self.path else []
        return ": ".join([*where, self.message])

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API's error details."""
        return asdict(self)


class PolicyError(ValueError):
    """A policy document was refused; `.errors` holds every problem found."""

    def __init__(self, errors: Sequence[PolicyIssue]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(issue) for issue in self.errors))


def line_finder(root: yaml.Node | None) -> LineOf:
    """A function giving the 1-based YAML line of a location (the deepest node that exists)."""

    def line_of(loc: Loc) -> int | None:
        node = root
        line = node.start_mark.line + 1 if node is not None else None
        for part in loc:
            node = _child(node, part)
            if node is None:
                break
            line = node.start_mark.line + 1
        return line

    return line_of


def _child(node: yaml.Node | None, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == part:
                return value  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


def duplicate_key_issues(root: yaml.Node | None, data: dict[str, Any]) -> list[PolicyIssue]:
    """YAML silently keeps the last of two equal keys; a policy must not hide one that way."""
    issues: list[PolicyIssue] = []
    stack: list[tuple[yaml.Node | None, Loc]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[object] = set()
            for key, value in node.value:
                if key.value in seen:
                    rule, inner = _split_rule((*loc, key.value), data)
                    line = key.start_mark.line + 1
                    issues.append(PolicyIssue(rule, _format_path(inner), "key given twice", line))
                seen.add(key.value)
                stack.append((value, (*loc, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, (*loc, index)) for index, child in enumerate(node.value))
    return sorted(issues, key=lambda issue: issue.line or 0)


def rule_label(data: dict[str, Any], index: int) -> str:
    """A rule's id when it has a usable one, else its position (`#3`)."""
    rules = data.get("rules")
    rule = rules[index] if isinstance(rules, list) and index < len(rules) else None
    rule_id = rule.get("id") if isinstance(rule, dict) else None
    return rule_id if isinstance(rule_id, str) and rule_id else f"#{index + 1}"


def issues_from_validation(
    exc: ValidationError, data: dict[str, Any], line_of: LineOf
) -> list[PolicyIssue]:
    """Pydantic's errors rephrased, one issue per problem, duplicates dropped."""
    issues: list[PolicyIssue] = []
    for error in exc.errors():
        loc = _readable_loc(tuple(error["loc"]))
        rule, inner = _split_rule(loc, data)
        message = _message(error, loc)
        if error["type"] in ("extra_forbidden", "missing") and inner:
            inner = inner[:-1]  # the path names the mapping; the message names the key
        issue = PolicyIssue(rule, _format_path(inner), message, line_of(loc))
        if issue not in issues:
            issues.append(issue)
    return issues


def _readable_loc(loc: Loc) -> Loc:
    for position, part in enumerate(loc):
        if isinstance(part, str) and part != "[key]" and ("[" in part or part in _UNION_TAGS):
            return loc[:position]
    return loc


def _split_rule(loc: Loc, data: dict[str, Any]) -> tuple[str | None, Loc]:
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        return rule_label(data, loc[1]), loc[2:]
    return None, loc


def _format_path(loc: Loc) -> str:
    text = ""
    for part in loc:
        if part == "[key]":
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _message(error: Any, loc: Loc) -> str:
    kind, value = error["type"], error.get("input")
    named = [part for part in loc if isinstance(part, str)]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        if loc == ("version",):
            return "unknown key 'version': the service numbers policy versions itself"
        hint = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
        return f"unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
    if kind == "missing":
        return f"required key {loc[-1]!r} is missing" if loc else "required key is missing"
    if kind == "literal_error":
        noun = _noun(named)
        return f"{value!r} is not a known {noun}; expected {error['ctx']['expected']}"
    if kind == "string_pattern_mismatch" and named[-1:] == ["id"]:
        return "a rule id uses letters, digits, '.', '_' and '-', starting with a letter or digit"
    if kind == "too_short":
        return "needs at least one entry"
    if named[-1:] == ["value"] and kind.endswith("_type"):
        return "`value` is text, a number, true/false, or a list of those"
    message = str(error["msg"])
    if kind == "policy":
        return message
    return f"{message[:1].lower()}{message[1:]} (got {_short(value)})"


def _noun(named: list[str]) -> str:
    if named[-1:] == ["[key]"] or (len(named) >= 2 and named[-2] in ("redaction", "profiles")):
        return "audience" if named[-1:] == ["[key]"] else "redaction profile"
    for part in reversed(named):
        if part in _NOUNS:
            return _NOUNS[part]
    return "value"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
