"""The pure evaluator: one event, its resolved recipients, and the policy in; decisions out.

`evaluate(policy, event, recipients, now)` returns one `Decision` per recipient x channel the
recipient accepts. No I/O, no clock (`now` is given), no randomness: the same inputs give
the same decisions, which is what makes `simulate` and `explain` trustworthy.

Order of judgement for each recipient x channel:

1. Invariants, whatever the rules say (a stored policy may be hostile or simply wrong):
   a recipient who may not see the ticket, the public for any ticket event, internal
   content (internal chat/notes, internal status updates) anywhere but a staff destination,
   employees-only status content for the public -> suppress.
2. The first rule, in document order, whose `on` has the event, whose `to` shares an
   audience with the recipient, whose `via` has the channel and whose `when` holds.
   None -> suppress ("no rule matched"): the evaluator fails closed.
3. The actor is not told about their own action unless the rule says `notify_actor`.
4. `require_approval`, or any message to the public audience -> hold for an approver.
5. Timing: the rule's delay or digest, then (for channels that interrupt a person) the
   recipient's digest preference and quiet hours, unless `respect_quiet_hours: false`.

Conditions are decided once per rule per event (and once per recipient role for rules that
name `recipient.role`), and rule matches are cached per audience set x role x channel, so
10,000 followers cost little more than 10,000 small object constructions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from app.policy.engine.conditions import RECIPIENT_FIELDS, evaluate_condition, iter_leaves
from app.policy.engine.document import (
    PROFILE_STRENGTH,
    Audience,
    Channel,
    EventType,
    PolicyDocument,
    ProfileName,
    Rule,
)
from app.policy.engine.safety import PUBLIC_CHANNELS, STATUS_EVENTS
from app.policy.engine.schedule import Preferences, schedule
from app.policy.guard.redaction import Finding

Outcome = Literal["send", "delay", "digest", "hold", "suppress"]
BodyVariant = Literal["internal", "public"]
Visibility = Literal["public", "internal"]
StatusAudience = Literal["internal", "employees", "public"]
RecipientRole = Literal["admin", "agent", "end_user", "public", "external"]
ActorRole = Literal["admin", "agent", "end_user", "system"]

STAFF_ROLES: frozenset[str] = frozenset({"admin", "agent"})
# A staff member's own inbox and mailbox are staff destinations; a webhook, chat-app or
# ticket destination is one only when it was explicitly marked internal.
_PERSONAL_CHANNELS: frozenset[str] = frozenset({"in_app", "email"})
_MARKABLE_CHANNELS: frozenset[str] = frozenset({"webhook", "apprise", "ticket"})
# When one recipient is reached through several audiences, explain and redact for the
# most exposed one.
_EXPOSURE: tuple[Audience, ...] = (
    "public", "employees", "service_subscribers", "followers", "mentioned", "requester",
    "assignee", "agents",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What the policy may know about the ticket an event concerns."""

    priority: str | None = None
    status: str | None = None
    service: str | None = None
    requester_id: int | None = None
    assignee_id: int | None = None
    followable: bool = False


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused the event."""

    user_id: int | None
    role: ActorRole


@dataclass(frozen=True, slots=True)
class PolicyEvent:
    """A domain event as the policy sees it.

    `visibility` has no default on purpose: the caller decides it for every event. For a
    status update, `body` is the internal (staff) text, `public_body` the text for its
    `audience`; an update without an audience counts as internal.
    """

    key: str
    type: EventType
    visibility: Visibility
    occurred_at: datetime
    actor: Actor | None = None
    ticket: TicketFacts | None = None
    old_status: str | None = None
    new_status: str | None = None
    body: str = ""
    public_body: str | None = None
    mentions: frozenset[int] = frozenset()
    audience: StatusAudience | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """One person or destination, tagged with the audiences the caller resolved it under."""

    key: str
    role: RecipientRole
    audiences: frozenset[Audience]
    channels: frozenset[Channel]
    may_see_ticket: bool
    user_id: int | None = None
    internal_destination: bool = False
    preferences: Preferences = field(default_factory=Preferences)


@dataclass(frozen=True, slots=True)
class Reason:
    """One step of a decision: what was checked, whether it held, in one sentence."""

    kind: Literal["invariant", "rule", "condition", "actor", "approval", "timing"]
    matched: bool
    sentence: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy decided for one event x recipient x channel, and why."""

    event_key: str
    recipient_key: str
    channel: Channel
    outcome: Outcome
    rule_id: str | None
    audience: Audience | None
    body_variant: BodyVariant
    redaction_profile: ProfileName
    deliver_at: datetime | None
    reasons: tuple[Reason, ...]
    redactions: tuple[Finding, ...] = ()


def evaluate(
    policy: PolicyDocument, event: PolicyEvent, recipients: Iterable[Recipient], now: datetime
) -> list[Decision]:
    """Decide every recipient x accepted channel for one event; pure and deterministic."""
    context = _EventContext(policy, event)
    return [
        context.decide(recipient, channel, now)
        for recipient in recipients
        for channel in sorted(recipient.channels)
    ]


@dataclass(frozen=True, slots=True)
class _Match:
    rule: Rule | None
    audience: Audience | None
    profile: ProfileName
    reasons: tuple[Reason, ...]


@dataclass(slots=True)
class _RulePlan:
    """One rule, prepared once per event."""

    rule: Rule
    audiences: frozenset[str]
    channels: frozenset[str]
    per_role: bool
    verdicts: dict[str, tuple[bool, tuple[Reason, ...]]] = field(default_factory=dict)

    def verdict(self, facts: dict[str, object], role: str) -> tuple[bool, tuple[Reason, ...]]:
        """The rule's `when` for this event (and role, when the rule names recipient.role)."""
        key = role if self.per_role else ""
        if key not in self.verdicts:
            self.verdicts[key] = _decide_condition(self.rule, {**facts, "recipient.role": role})
        return self.verdicts[key]


def _decide_condition(rule: Rule, facts: dict[str, object]) -> tuple[bool, tuple[Reason, ...]]:
    if rule.when is None:
        return True, (Reason("condition", True, "the rule has no conditions"),)
    try:
        held, leaves = evaluate_condition(rule.when, facts)
    except (AttributeError, TypeError, ValueError):  # PatternError is a ValueError
        # Only a policy that skipped validation gets here; it sends nothing.
        return False, (Reason("condition", False, "the rule's conditions cannot be read"),)
    return held, tuple(Reason("condition", v.matched, v.sentence) for v in leaves)


def _plan(rule: Rule, event_type: str) -> _RulePlan | None:
    try:
        if event_type not in rule.on:
            return None
        rule.timing.delay_seconds  # noqa: B018 (an unreadable delay must fail here, not later)
        per_role = rule.when is not None and any(
            leaf.field in RECIPIENT_FIELDS for leaf in iter_leaves(rule.when)
        )
        return _RulePlan(rule, frozenset(rule.to), frozenset(rule.via), per_role)
    except (AttributeError, TypeError, ValueError):
        return None  # an unreadable rule (one that skipped validation) addresses nobody


class _EventContext:
    """Everything about one event that does not depend on the recipient, computed once."""

    def __init__(self, policy: PolicyDocument, event: PolicyEvent) -> None:
        self.policy = policy
        self.event = event
        self.is_status = event.type in STATUS_EVENTS
        internal = event.visibility != "public" or (self.is_status and event.audience is None)
        # Who the content itself is for: internal (staff), employees, or public.
        self.content_audience: str = "internal" if internal else (event.audience or "public")
        self.plans = [p for rule in policy.rules if (p := _plan(rule, event.type)) is not None]
        self.facts = _facts(event)
        self.matches: dict[tuple[frozenset[str], str, str], _Match] = {}

    def decide(self, recipient: Recipient, channel: Channel, now: datetime) -> Decision:
        """The decision for one recipient on one channel."""
        staff = _is_staff_destination(recipient, channel)
        variant: BodyVariant = "internal" if staff and self.is_status else "public"
        if not self.is_status and self.event.visibility != "public":
            variant = "internal"
        blocked = self._invariant(recipient, channel, staff=staff)
        if blocked is not None:
            return self._decision(recipient, channel, "suppress", variant, reasons=(blocked,))
        match = self._match(recipient.audiences, recipient.role, channel)
        if match.rule is None:
            return self._decision(recipient, channel, "suppress", variant, reasons=match.reasons)
        return self._apply_rule(recipient, channel, match, variant, now, staff=staff)

    def _invariant(self, recipient: Recipient, channel: str, *, staff: bool) -> Reason | None:
        event = self.event
        if event.ticket is not None and (
            recipient.role == "public" or not recipient.may_see_ticket
        ):
            return Reason("invariant", False, "the recipient may not see this ticket")
        if staff:
            return None
        if not self.is_status and event.visibility != "public":
            return Reason("invariant", False, "internal content reaches staff destinations only")
        if self.is_status and self.content_audience == "internal":
            return Reason("invariant", False, "an internal status update reaches staff only")
        if self.is_status and event.public_body is None:
            return Reason("invariant", False, "the update has no text for this audience")
        exposed = recipient.role in ("public", "external") or channel in PUBLIC_CHANNELS
        if self.content_audience == "employees" and (exposed or "public" in recipient.audiences):
            return Reason("invariant", False, "employees-only status content stays off public")
        return None

    def _match(self, audiences: frozenset[str], role: str, channel: str) -> _Match:
        key = (audiences, role, channel)
        found = self.matches.get(key)
        if found is None:
            found = self.matches[key] = self._first_rule(audiences, role, channel)
        return found

    def _first_rule(self, audiences: frozenset[str], role: str, channel: str) -> _Match:
        failed: list[Reason] = []
        for plan in self.plans:
            reached = plan.audiences & audiences
            if channel not in plan.channels or not reached:
                continue
            audience = next((a for a in _EXPOSURE if a in reached), None)
            if audience is None:
                continue  # only audiences no validated policy can name
            held, conditions = plan.verdict(self.facts, role)
            rule_id = plan.rule.id
            if not held:
                failed += [Reason("rule", False, f"rule {rule_id!r}: conditions not met")]
                failed += conditions
                continue
            said = f"rule {rule_id!r} sends {self.event.type} to {audience} via {channel}"
            profile = self._profile(plan.rule, audience)
            return _Match(plan.rule, audience, profile, (Reason("rule", True, said), *conditions))
        said = f"no rule matched {self.event.type} for {_names(audiences)} via {channel}"
        return _Match(None, None, "strict", (Reason("rule", False, said), *failed))

    def _profile(self, rule: Rule, audience: Audience) -> ProfileName:
        chosen = (rule.redaction or {}).get(audience) or self.policy.redaction.profile_for(audience)
        return "strict" if audience == "public" else chosen

    def _staff_profile(self, rule: Rule) -> ProfileName:
        # Staff destinations read the ticket unredacted anyway: redact as for `agents`.
        return self._profile(rule, "agents")

    def _apply_rule(
        self,
        recipient: Recipient,
        channel: Channel,
        match: _Match,
        variant: BodyVariant,
        now: datetime,
        *,
        staff: bool,
    ) -> Decision:
        rule = match.rule
        assert rule is not None
        event = self.event
        reasons = list(match.reasons)
        actor_id = event.actor.user_id if event.actor else None
        if not rule.notify_actor and actor_id is not None and actor_id == recipient.user_id:
            reasons.append(Reason("actor", False, "the recipient did this themselves"))
            outcome: Outcome = "suppress"
            deliver_at = None
        elif match.audience == "public" and self.content_audience != "public" and not staff:
            reasons.append(Reason("invariant", False, "only public content reaches the public"))
            outcome, deliver_at = "suppress", None
        elif rule.require_approval or match.audience == "public":
            public = match.audience == "public"
            why = "the public audience needs an approver" if public else "the rule asks for one"
            reasons.append(Reason("approval", True, f"held for approval: {why}"))
            outcome, deliver_at = "hold", None
        else:
            prefs = recipient.preferences
            outcome, deliver_at, notes = schedule(rule, channel, prefs, event.occurred_at, now)
            reasons += [Reason("timing", True, note) for note in notes]
        profile = self._staff_profile(rule) if staff else _floor(match.profile, recipient)
        return self._decision(
            recipient, channel, outcome, variant, reasons=tuple(reasons), rule=rule,
            audience=match.audience, profile=profile, deliver_at=deliver_at,
        )  # fmt: skip

    def _decision(
        self,
        recipient: Recipient,
        channel: Channel,
        outcome: Outcome,
        variant: BodyVariant,
        *,
        reasons: tuple[Reason, ...],
        rule: Rule | None = None,
        audience: Audience | None = None,
        profile: ProfileName = "strict",
        deliver_at: datetime | None = None,
    ) -> Decision:
        return Decision(
            event_key=self.event.key, recipient_key=recipient.key, channel=channel,
            outcome=outcome, rule_id=rule.id if rule else None, audience=audience,
            body_variant=variant, redaction_profile=profile, deliver_at=deliver_at,
            reasons=reasons,
        )  # fmt: skip


def _is_staff_destination(recipient: Recipient, channel: str) -> bool:
    if channel in PUBLIC_CHANNELS or recipient.role not in ("admin", "agent", "external"):
        return False
    if channel in _MARKABLE_CHANNELS:
        return recipient.internal_destination
    return recipient.role in STAFF_ROLES and channel in _PERSONAL_CHANNELS


def _floor(profile: ProfileName, recipient: Recipient) -> ProfileName:
    # Whatever the document says, outsiders get at least `standard` and the public `strict`.
    floor: ProfileName = "standard"
    if recipient.role == "public" or "public" in recipient.audiences:
        floor = "strict"
    return floor if PROFILE_STRENGTH[floor] > PROFILE_STRENGTH.get(profile, 2) else profile


def _facts(event: PolicyEvent) -> dict[str, object]:
    ticket = event.ticket or TicketFacts()
    return {
        "event.type": event.type,
        "event.visibility": event.visibility,
        "event.audience": event.audience,
        "event.old_status": event.old_status,
        "event.new_status": event.new_status,
        "event.body": event.body,
        "event.mentions": event.mentions,
        "ticket.priority": ticket.priority,
        "ticket.status": ticket.status,
        "ticket.service": ticket.service,
        "ticket.followable": ticket.followable if event.ticket else None,
        "actor.role": event.actor.role if event.actor else None,
    }


def _names(audiences: Iterable[str]) -> str:
    return ", ".join(sorted(audiences)) or "no audience"
