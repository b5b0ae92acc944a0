"""The `when` conditions of a policy rule: the facts they may name, how they evaluate, and
what they provably pin down.

A condition is data: `{all: [...]}`, `{any: [...]}`, `{not: {...}}` or a leaf
`{field, op, value}`. The same tree is read three ways:

- `leaf_problems` checks one leaf at save time (known field, sensible value, valid regex);
- `evaluate_condition` decides it against the facts of one event (and one recipient role),
  returning every leaf's verdict so a decision can be explained afterwards;
- `pinned_values` proves, without any event, which values a field can still take when the
  condition holds. The save-time safety rule uses it to accept only rules that provably
  restrict internal content (see `app.policy.engine.document`).

A condition about a fact the event does not carry is false (only `exists: false` holds),
so a missing fact never opens a door.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from app.kit.patterns import PatternError, compile_pattern

Scalar = str | int | float | bool
ConditionValue = Scalar | list[Scalar] | None
Operator = Literal[
    "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "matches", "exists"
]
OPERATORS: frozenset[str] = frozenset(
    ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "matches", "exists")
)

EVENT_TYPE_VALUES = (
    "ticket.created", "ticket.status_changed", "ticket.assigned", "ticket.priority_changed",
    "ticket.commented", "ticket.resolved", "ticket.reopened", "chat.message",
    "status.update", "status.resolved", "survey.requested",
)  # fmt: skip
STATUS_VALUES = ("new", "open", "in_progress", "pending", "resolved", "closed")
PRIORITY_VALUES = ("P1", "P2", "P3", "P4")
VISIBILITY_VALUES = ("public", "internal")
STATUS_AUDIENCE_VALUES = ("internal", "employees", "public")
ACTOR_ROLE_VALUES = ("admin", "agent", "end_user", "system")
RECIPIENT_ROLE_VALUES = ("admin", "agent", "end_user", "public", "external")

# Every fact a condition may name, with its closed set of values (None: free text or ids).
# `recipient.role` is the only per-recipient fact; everything else is known once per event.
CONDITION_FIELDS: Mapping[str, tuple[Scalar, ...] | None] = {
    "event.type": EVENT_TYPE_VALUES,
    "event.visibility": VISIBILITY_VALUES,
    "event.audience": STATUS_AUDIENCE_VALUES,
    "event.old_status": STATUS_VALUES,
    "event.new_status": STATUS_VALUES,
    "event.body": None,
    "event.mentions": None,
    "ticket.priority": PRIORITY_VALUES,
    "ticket.status": STATUS_VALUES,
    "ticket.service": None,
    "ticket.followable": (True, False),
    "actor.role": ACTOR_ROLE_VALUES,
    "recipient.role": RECIPIENT_ROLE_VALUES,
}
RECIPIENT_FIELDS: frozenset[str] = frozenset({"recipient.role"})
# Facts whose content must never be echoed in an explanation (it may be internal text).
_UNSHOWN_FIELDS: frozenset[str] = frozenset({"event.body"})
# P1 is the most urgent: `ticket.priority gte P2` means P1 or P2.
_URGENCY: Mapping[Scalar, int] = {"P1": 4, "P2": 3, "P3": 2, "P4": 1}
_ORDERED_FIELDS: Mapping[str, Mapping[Scalar, int]] = {"ticket.priority": _URGENCY}
_ORDER_OPS: Mapping[str, Callable[[int, int], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


class ConditionNode(Protocol):
    """The shape of a condition; `app.policy.engine.document.Condition` is the concrete model."""

    @property
    def all_(self) -> Sequence[ConditionNode] | None: ...
    @property
    def any_(self) -> Sequence[ConditionNode] | None: ...
    @property
    def not_(self) -> ConditionNode | None: ...
    @property
    def field(self) -> str | None: ...
    @property
    def op(self) -> str | None: ...
    @property
    def value(self) -> ConditionValue: ...


@dataclass(frozen=True, slots=True)
class LeafVerdict:
    """One evaluated leaf: what it asked, whether it held, and a sentence saying so."""

    field: str
    op: str
    matched: bool
    sentence: str


def leaf_problems(field: str | None, op: str | None, value: ConditionValue) -> list[str]:
    """Everything wrong with one leaf condition, as human sentences (empty when it is fine)."""
    if field is None or op is None:
        return ["a condition needs `field` and `op` (or one of `all`, `any`, `not`)"]
    if field not in CONDITION_FIELDS:
        return [f"unknown field {field!r}; known fields: {', '.join(CONDITION_FIELDS)}"]
    if op not in OPERATORS:
        return [f"unknown op {op!r}; known ops: {', '.join(sorted(OPERATORS))}"]
    if op == "exists":
        ok = value is None or isinstance(value, bool)
        return [] if ok else ["`exists` takes true or false (or no value)"]
    if value is None:
        return [f"op {op!r} needs a `value`"]
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            return [f"op {op!r} needs a non-empty list as `value`"]
        return _domain_problems(field, value)
    if isinstance(value, list):
        return [f"op {op!r} compares with one value, not a list"]
    if op == "matches":
        return _regex_problems(value)
    if op in _ORDER_OPS and field not in _ORDERED_FIELDS:
        return [f"op {op!r} works only on ordered fields ({', '.join(_ORDERED_FIELDS)})"]
    if op == "contains":
        return []
    return _domain_problems(field, [value])


def _domain_problems(field: str, values: Sequence[Scalar]) -> list[str]:
    domain = CONDITION_FIELDS[field]
    if domain is None:
        return []
    bad = [
        v for v in values if v not in domain or isinstance(v, bool) != isinstance(domain[0], bool)
    ]
    if not bad:
        return []
    shown = ", ".join(str(v) for v in domain)
    return [f"{field} is never {', '.join(repr(v) for v in bad)}; it is one of: {shown}"]


def _regex_problems(value: Scalar) -> list[str]:
    if not isinstance(value, str):
        return ["`matches` needs a regular expression as a string"]
    try:
        compile_pattern(value)
    except PatternError as exc:
        return [f"invalid regular expression {value!r}: {exc}"]
    return []


def evaluate_condition(
    node: ConditionNode, facts: Mapping[str, object]
) -> tuple[bool, list[LeafVerdict]]:
    """Decide a condition against the facts; every leaf is evaluated so all can be explained."""
    verdicts: list[LeafVerdict] = []
    return _evaluate(node, facts, verdicts), verdicts


def _evaluate(node: ConditionNode, facts: Mapping[str, object], out: list[LeafVerdict]) -> bool:
    if node.all_ is not None:
        results = [_evaluate(child, facts, out) for child in node.all_]
        return all(results)
    if node.any_ is not None:
        results = [_evaluate(child, facts, out) for child in node.any_]
        return any(results)
    if node.not_ is not None:
        return not _evaluate(node.not_, facts, out)
    field, op = node.field or "?", node.op or "?"
    actual = facts.get(field)
    matched = _leaf_holds(field, op, node.value, actual)
    out.append(LeafVerdict(field, op, matched, _sentence(field, op, node.value, actual, matched)))
    return matched


def _leaf_holds(field: str, op: str, expected: ConditionValue, actual: object) -> bool:
    # An unknown field or operator (possible only in a policy that skipped validation)
    # never holds: fail closed.
    if field not in CONDITION_FIELDS or op not in OPERATORS:
        return False
    present = actual is not None and actual != "" and actual != frozenset()
    if op == "exists":
        return present == (expected is None or expected is True)
    if not present:
        return False
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op in ("in", "not_in"):
        inside = isinstance(expected, list) and actual in expected
        return inside if op == "in" else not inside
    if op == "contains":
        return _contains(actual, expected)
    if op == "matches":
        return _matches(actual, expected)
    return _compare(field, op, expected, actual)


def _contains(actual: object, expected: ConditionValue) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected.casefold() in actual.casefold()
    if isinstance(actual, frozenset | set | tuple | list):
        return expected in actual
    return False


def _matches(actual: object, pattern: ConditionValue) -> bool:
    if not isinstance(actual, str) or not isinstance(pattern, str):
        return False
    try:
        return compile_pattern(pattern).search(actual) is not None
    except PatternError:
        # Only a document that skipped validation gets here: no match, like an unknown field.
        return False


def _compare(field: str, op: str, expected: ConditionValue, actual: object) -> bool:
    order = _ORDERED_FIELDS.get(field)
    compare = _ORDER_OPS.get(op)
    if order is None or compare is None or isinstance(expected, list) or expected is None:
        return False
    left, right = order.get(actual) if isinstance(actual, str) else None, order.get(expected)
    return left is not None and right is not None and compare(left, right)


def _sentence(field: str, op: str, expected: ConditionValue, actual: object, ok: bool) -> str:
    wanted = _show(expected)
    if field in _UNSHOWN_FIELDS:
        seen = "its text is not shown"
    elif actual is None:
        seen = f"the event has no {field}"
    else:
        seen = f"it is {_show(actual)}"
    verb = {"exists": "exists", "eq": "is", "ne": "is not", "in": "is one of",
            "not_in": "is none of", "gt": "is above", "gte": "is at least",
            "lt": "is below", "lte": "is at most", "contains": "contains",
            "matches": "matches"}.get(op, op)  # fmt: skip
    test = f"{field} {verb}" + ("" if op == "exists" else f" {wanted}")
    if op == "exists" and expected is False:
        test = f"{field} is absent"
    return f"{test}: {'yes' if ok else 'no'} ({seen})"


def _show(value: object) -> str:
    if isinstance(value, frozenset | set | list | tuple):
        return "[" + ", ".join(sorted(str(v) for v in value)) + "]"
    return str(value)


def pinned_values(node: ConditionNode | None, field: str) -> frozenset[Scalar] | None:
    """The values `field` can still take when `node` holds; None when it is not pinned."""
    domain = CONDITION_FIELDS.get(field)
    if node is None or domain is None:
        return None
    return _pinned(node, field, frozenset(domain), negated=False)


def _pinned(
    node: ConditionNode, field: str, domain: frozenset[Scalar], *, negated: bool
) -> frozenset[Scalar] | None:
    # De Morgan: under `not`, an `all` behaves like an `any` and the other way round.
    children = node.all_ if node.all_ is not None else node.any_
    if children is not None:
        conjunctive = (node.all_ is not None) != negated
        sets = [_pinned(child, field, domain, negated=negated) for child in children]
        return _combine(sets, conjunctive=conjunctive)
    if node.not_ is not None:
        return _pinned(node.not_, field, domain, negated=not negated)
    if node.field != field:
        return None
    return _leaf_pins(node.op, node.value, domain, negated=negated)


def _combine(
    sets: Sequence[frozenset[Scalar] | None], *, conjunctive: bool
) -> frozenset[Scalar] | None:
    if conjunctive:
        known = [s for s in sets if s is not None]
        if not known:
            return None
        result = known[0]
        for other in known[1:]:
            result = result & other
        return result
    if not sets or any(s is None for s in sets):
        return None  # one unconstrained branch lets any value through
    return frozenset().union(*(s for s in sets if s is not None))


def _leaf_pins(
    op: str | None, value: ConditionValue, domain: frozenset[Scalar], *, negated: bool
) -> frozenset[Scalar] | None:
    listed = value if isinstance(value, list) else [value]
    values = frozenset(v for v in listed if v is not None)
    if op in ("ne", "not_in"):
        negated = not negated
    elif op not in ("eq", "in"):
        return None  # other operators say nothing provable about a closed set
    values = values & domain
    return domain - values if negated else values


def iter_leaves(node: ConditionNode) -> Iterator[ConditionNode]:
    """Every leaf of a condition tree, depth first."""
    for child in (*(node.all_ or ()), *(node.any_ or ())):
        yield from iter_leaves(child)
    if node.not_ is not None:
        yield from iter_leaves(node.not_)
    if node.all_ is None and node.any_ is None and node.not_ is None:
        yield node
