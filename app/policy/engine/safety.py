"""The save-time safety rule: a policy that could leak internal content cannot be stored.

Invariant 1 ("internal stays internal") is enforced on every message by the evaluator and
again at egress; this rule refuses, when a policy is saved, any rule that would try.

1. `assignee` and `agents` are staff audiences. Every other audience (requester, followers,
   mentioned, service_subscribers, employees, public) may reach people outside IT.
2. A rule that addresses an outside audience and fires `on` a content event must prove in
   its `when` that what it sends cannot be internal:
   - `chat.message`, `ticket.commented`: `event.visibility` is pinned to `public`
     (`{field: event.visibility, op: eq, value: public}`, or `ne internal`, or
     `in [public]`, alone or inside an `all`);
   - `status.update`, `status.resolved`: `event.audience` is pinned to `public` when `to`
     includes `public`, otherwise to `employees`/`public` (never `internal`).
   Instead, the `when` may pin `recipient.role` to `agent`/`admin` ("mentioned agents" for
   internal chat). "Pinned" is proved from the condition tree, never guessed: an `any` with
   one unconstrained branch pins nothing (see `app.policy.engine.conditions.pinned_values`).
3. `public` is reached only via the broadcast channels `status_page`, `feed` and
   `subscribers`, only for status events, and those channels serve only `public`.
4. `ticket` (write-back to the ticketing system) is only for `chat.message` and only
   `to: [agents]`: the ticketing system keeps internal notes internal, so it counts as a
   staff destination, and the decision's body variant says note or public comment.
5. Redaction: `public` always gets the `strict` profile; no outside audience gets `none`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from app.policy.engine.conditions import ConditionNode, pinned_values

STAFF_AUDIENCES: frozenset[str] = frozenset({"assignee", "agents"})
PUBLIC_CHANNELS: frozenset[str] = frozenset({"status_page", "feed", "subscribers"})
CHAT_CONTENT_EVENTS: frozenset[str] = frozenset({"chat.message", "ticket.commented"})
STATUS_EVENTS: frozenset[str] = frozenset({"status.update", "status.resolved"})

Problem = tuple[str, str]  # (field path inside the rule, sentence)


class RuleShape(Protocol):
    """What the safety rule reads of a rule (`app.policy.engine.document.Rule` has it)."""

    @property
    def on(self) -> Sequence[str]: ...
    @property
    def to(self) -> Sequence[str]: ...
    @property
    def via(self) -> Sequence[str]: ...
    @property
    def when(self) -> ConditionNode | None: ...


def rule_problems(rule: RuleShape) -> list[Problem]:
    """Every way a well-formed rule breaks rules 2-4, as (path, sentence)."""
    return [*_internal_content_problems(rule), *_channel_problems(rule)]


def _internal_content_problems(rule: RuleShape) -> list[Problem]:
    outside = ", ".join(a for a in rule.to if a not in STAFF_AUDIENCES)
    if not outside or _pinned_to_staff(rule.when):
        return []
    problems: list[Problem] = []
    chat_events = ", ".join(sorted(set(rule.on) & CHAT_CONTENT_EVENTS))
    visibility = pinned_values(rule.when, "event.visibility")
    if chat_events and (visibility is None or not visibility <= {"public"}):
        fix = "{field: event.visibility, op: eq, value: public}"
        message = f"{chat_events} may be internal, and this rule sends it to {outside}"
        problems.append(("when", f"{message}; add {fix} to `when`"))
    status_events = ", ".join(sorted(set(rule.on) & STATUS_EVENTS))
    allowed = ["public"] if "public" in rule.to else ["employees", "public"]
    audience = pinned_values(rule.when, "event.audience")
    if status_events and (audience is None or not audience <= set(allowed)):
        fix = f"{{field: event.audience, op: in, value: [{', '.join(allowed)}]}}"
        message = f"{status_events} may be internal or employees-only, and goes to {outside}"
        problems.append(("when", f"{message}; add {fix} to `when`"))
    return problems


def _pinned_to_staff(when: ConditionNode | None) -> bool:
    roles = pinned_values(when, "recipient.role")
    return roles is not None and roles <= {"agent", "admin"}


def _channel_problems(rule: RuleShape) -> list[Problem]:
    problems: list[Problem] = []
    personal = ", ".join(sorted(set(rule.via) - PUBLIC_CHANNELS))
    if "public" in rule.to and personal:
        message = "the public audience is reached only via status_page, feed or subscribers"
        problems.append(("via", f"{message}, not {personal}; give those a rule of their own"))
    broadcast = ", ".join(sorted(set(rule.via) & PUBLIC_CHANNELS))
    others = ", ".join(sorted(set(rule.to) - {"public"}))
    if broadcast and others:
        problems.append(("to", f"{broadcast} publish to the public only, not to {others}"))
    if "public" in rule.to and not set(rule.on) <= STATUS_EVENTS:
        problems.append(("on", "the public audience only hears status.update and status.resolved"))
    if "ticket" in rule.via and set(rule.on) != {"chat.message"}:
        problems.append(("on", "via ticket writes chat messages back; use it only on chat.message"))
    if "ticket" in rule.via and set(rule.to) != {"agents"}:
        problems.append(("to", "via ticket is a staff destination; address it `to: [agents]`"))
    return problems


def redaction_floor_problems(profiles: Iterable[tuple[str, str]]) -> list[str]:
    """Rule 5: profiles too weak for their audience (public needs strict, outsiders not none)."""
    problems = []
    for audience, profile in profiles:
        if audience == "public" and profile != "strict":
            problems.append("the public audience always gets the strict redaction profile")
        elif audience not in STAFF_AUDIENCES and profile == "none":
            problems.append(f"{audience} may include end users; use standard or strict")
    return problems
