"""The communications policy document: pydantic models, loaded from YAML, validated on save.

`parse_policy(text)` returns a `PolicyDocument` or raises `PolicyError`, whose `.errors`
name the rule, the field path, the YAML line and what is wrong, for every problem found:
YAML syntax, unknown keys, unknown events/audiences/channels, bad regexes and durations,
duplicate rule ids, and breaches of the save-time safety rule (`app.policy.engine.safety`).
A `PolicyDocument` built any other way (`model_validate` on API JSON) is checked too.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic import model_validator as _model_validator
from pydantic_core import PydanticCustomError

from app.kit.patterns import MAX_PATTERN_LENGTH, PatternError, compile_pattern
from app.policy.engine.conditions import ConditionValue, leaf_problems
from app.policy.engine.errors import (
    LineOf,
    PolicyError,
    PolicyIssue,
    duplicate_key_issues,
    issues_from_validation,
    line_finder,
)
from app.policy.engine.safety import redaction_floor_problems, rule_problems

EventType = Literal[
    "ticket.created", "ticket.status_changed", "ticket.assigned", "ticket.priority_changed",
    "ticket.commented", "ticket.resolved", "ticket.reopened", "chat.message",
    "status.update", "status.resolved", "survey.requested",
]  # fmt: skip
Audience = Literal[
    "requester", "followers", "assignee", "agents", "mentioned",
    "service_subscribers", "employees", "public",
]  # fmt: skip
Channel = Literal[
    "in_app", "email", "webhook", "apprise", "status_page", "feed", "subscribers", "ticket"
]
ProfileName = Literal["none", "standard", "strict"]
DigestCadence = Literal["hourly", "daily"]

EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
AUDIENCES: tuple[Audience, ...] = get_args(Audience)
CHANNELS: tuple[Channel, ...] = get_args(Channel)
PROFILE_STRENGTH: dict[str, int] = {"none": 0, "standard": 1, "strict": 2}

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_MAX_DELAY_SECONDS = 7 * 24 * 3600
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9-]{1,63})*$")


def parse_duration(text: str) -> int:
    """Seconds in a duration such as `90s`, `5m`, `2h`, `1d` or `1h30m`; ValueError if bad."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration; write e.g. 30s, 5m, 2h, 1d or 1h30m")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total == 0:
        raise ValueError("a delay of zero is `timing: immediate`")
    if total > _MAX_DELAY_SECONDS:
        raise ValueError(f"{text!r} is longer than the 7 days a delay may last")
    return total


def _custom(message: str) -> PydanticCustomError:
    return PydanticCustomError("policy", message)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Condition(_Strict):
    """`{all: [...]}`, `{any: [...]}`, `{not: {...}}` or a leaf `{field, op, value}`."""

    all_: list[Condition] | None = Field(default=None, alias="all")
    any_: list[Condition] | None = Field(default=None, alias="any")
    not_: Condition | None = Field(default=None, alias="not")
    field: str | None = None
    op: str | None = None
    value: ConditionValue = None

    @_model_validator(mode="after")
    def _one_shape(self) -> Condition:
        shapes = [self.all_ is not None, self.any_ is not None, self.not_ is not None]
        is_leaf = self.field is not None or self.op is not None or self.value is not None
        if sum(shapes) + is_leaf != 1:
            raise _custom("a condition is exactly one of `all`, `any`, `not` or a leaf")
        if self.all_ == [] or self.any_ == []:
            raise _custom("`all` and `any` need at least one condition")
        problems = leaf_problems(self.field, self.op, self.value) if is_leaf else []
        if problems:
            raise _custom("; ".join(problems))
        return self


class Timing(_Strict):
    """`immediate` (no keys), `{delay: 5m}` (collapses repeats) or `{digest: hourly|daily}`."""

    delay: str | None = None
    digest: DigestCadence | None = None

    @field_validator("delay")
    @classmethod
    def _delay_is_duration(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_duration(value)
            except ValueError as exc:
                raise _custom(str(exc)) from None
        return value

    @_model_validator(mode="after")
    def _one_kind(self) -> Timing:
        if self.delay is not None and self.digest is not None:
            raise _custom("timing is either a delay or a digest, not both")
        return self

    @property
    def delay_seconds(self) -> int | None:
        """The delay in seconds, or None for immediate and digest timing."""
        return None if self.delay is None else parse_duration(self.delay)


class Rule(_Strict):
    """One rule: on these events, to these audiences, via these channels, when this holds."""

    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    on: list[EventType] = Field(min_length=1)
    to: list[Audience] = Field(min_length=1)
    via: list[Channel] = Field(min_length=1)
    when: Condition | None = None
    timing: Timing = Field(default_factory=Timing)
    respect_quiet_hours: bool = True
    require_approval: bool = False
    notify_actor: bool = False
    redaction: dict[Audience, ProfileName] | None = None

    @field_validator("redaction")
    @classmethod
    def _redaction_floors(
        cls, value: dict[Audience, ProfileName] | None
    ) -> dict[Audience, ProfileName] | None:
        problems = redaction_floor_problems((value or {}).items())
        if problems:
            raise _custom("; ".join(problems))
        return value

    @field_validator("timing", mode="before")
    @classmethod
    def _timing_shorthand(cls, value: Any) -> Any:
        if value == "immediate" or value is None:
            return {}
        if isinstance(value, str):
            raise _custom(
                f"timing {value!r} is unknown; use immediate, {{delay: 5m}} or {{digest: daily}}"
            )
        return value


class CustomPattern(_Strict):
    """An extra redaction pattern (applied under the standard and strict profiles)."""

    name: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9_]+$")
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN_LENGTH)
    label: str = Field(min_length=1, max_length=60)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        # Compiled by the same linear-time engine the send path uses, so a pattern that
        # passes here can never stall a send (app.kit.patterns.py).
        try:
            compiled = compile_pattern(value)
        except PatternError as exc:
            raise _custom(f"invalid regular expression {value!r}: {exc}") from None
        if compiled.match(""):
            raise _custom(f"pattern {value!r} matches empty text; it would redact nothing")
        return value


DEFAULT_PROFILES: dict[Audience, ProfileName] = {
    "agents": "none",
    "assignee": "none",
    "requester": "standard",
    "followers": "standard",
    "mentioned": "standard",
    "service_subscribers": "standard",
    "employees": "standard",
    "public": "strict",
}


class RedactionSettings(_Strict):
    """Profile per audience, internal domains and custom patterns."""

    profiles: dict[Audience, ProfileName] = Field(default_factory=lambda: dict(DEFAULT_PROFILES))
    internal_domains: list[str] = Field(default_factory=list)
    custom_patterns: list[CustomPattern] = Field(default_factory=list)

    @field_validator("internal_domains")
    @classmethod
    def _hostnames(cls, value: list[str]) -> list[str]:
        cleaned = [domain.strip().lower().lstrip(".") for domain in value]
        bad = [domain for domain in cleaned if not _HOSTNAME.match(domain)]
        if bad:
            raise _custom(f"not a domain name: {', '.join(repr(b) for b in bad)}")
        return cleaned

    @field_validator("profiles")
    @classmethod
    def _floors(cls, value: dict[Audience, ProfileName]) -> dict[Audience, ProfileName]:
        problems = redaction_floor_problems(value.items())
        if problems:
            raise _custom("; ".join(problems))
        return value

    def profile_for(self, audience: Audience) -> ProfileName:
        """The document-wide profile of an audience (the shipped default when not listed)."""
        return self.profiles.get(audience, DEFAULT_PROFILES.get(audience, "strict"))


class ApprovalSettings(_Strict):
    """Who may approve held messages: with the two-person rule, never their author."""

    two_person_rule: bool = True


class PolicyDocument(_Strict):
    """A whole communications policy. Its version is kept by the service, not in the text."""

    rules: list[Rule]
    redaction: RedactionSettings = Field(default_factory=RedactionSettings)
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)

    @_model_validator(mode="after")
    def _safe_to_save(self, info: ValidationInfo) -> PolicyDocument:
        # parse_policy reports these itself, per rule and field, with line numbers; any
        # other way of building a document (API JSON, tests) still cannot skip them.
        if info.context and info.context.get(_REPORTED_SEPARATELY):
            return self
        problems = [issue for rule in self.rules for issue in _rule_issues(rule)]
        problems += _duplicate_id_issues({"rules": [r.model_dump() for r in self.rules]})
        if problems:
            raise _custom("; ".join(str(issue) for issue in problems))
        return self


_REPORTED_SEPARATELY = "safety_reported_separately"


def _rule_issues(rule: Rule, index: int = 0, line_of: LineOf | None = None) -> list[PolicyIssue]:
    issues = []
    for path, message in rule_problems(rule):
        line = line_of(("rules", index, path)) if line_of else None
        issues.append(PolicyIssue(rule.id, path, message, line))
    return issues


class _PolicyLoader(yaml.SafeLoader):
    """YAML 1.2 booleans (only true/false), so the `on:` key stays the string "on"."""


_PolicyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PolicyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_policy(text: str) -> PolicyDocument:
    """Parse and validate a policy; PolicyError lists every problem with rule, path and line."""
    try:
        root = yaml.compose(text, Loader=_PolicyLoader)
        data = yaml.load(text, Loader=_PolicyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([PolicyIssue(None, "", f"YAML syntax: {problem}", line)]) from None
    if not isinstance(data, dict):
        message = "the policy is a mapping with a `rules` list"
        raise PolicyError([PolicyIssue(None, "", message, 1)])
    line_of = line_finder(root)
    issues = duplicate_key_issues(root, data) + _duplicate_id_issues(data, line_of)
    document = None
    try:
        context = {_REPORTED_SEPARATELY: True}
        document = PolicyDocument.model_validate(data, context=context)
    except ValidationError as exc:
        issues += issues_from_validation(exc, data, line_of)
    issues += _safety_issues(data, line_of)
    if issues or document is None:
        raise PolicyError(sorted(issues, key=lambda issue: issue.line or 0))
    return document


def _safety_issues(data: dict[str, Any], line_of: LineOf) -> list[PolicyIssue]:
    # Each rule on its own, so a typo in one rule does not hide an unsafe neighbour (a rule
    # with a typo of its own is checked once the typo is fixed).
    rules = data.get("rules")
    issues: list[PolicyIssue] = []
    for index, raw in enumerate(rules if isinstance(rules, list) else []):
        try:
            rule = Rule.model_validate(raw)
        except ValidationError:
            continue  # already reported by the document's validation
        issues += _rule_issues(rule, index, line_of)
    return issues


def _duplicate_id_issues(data: dict[str, Any], line_of: LineOf | None = None) -> list[PolicyIssue]:
    rules = data.get("rules")
    first_seen: dict[str, int] = {}
    issues = []
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        rule_id = rule.get("id") if isinstance(rule, dict) else None
        if not isinstance(rule_id, str):
            continue
        if rule_id in first_seen:
            message = f"duplicate rule id; rule #{first_seen[rule_id] + 1} already uses it"
            line = line_of(("rules", index, "id")) if line_of else None
            issues.append(PolicyIssue(rule_id, "id", message, line))
        else:
            first_seen[rule_id] = index
    return issues


def load_default_policy() -> PolicyDocument:
    """The conservative policy shipped with the service (`default_policy.yaml`)."""
    return parse_policy(default_policy_text())


def default_policy_text() -> str:
    """The text of the shipped default policy, comments included."""
    return resources.files("app.policy").joinpath("default_policy.yaml").read_text("utf-8")
