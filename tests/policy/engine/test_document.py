"""The policy document: parsing, error reporting, and the save-time safety rule."""

from __future__ import annotations

import textwrap

import pytest
from pydantic import ValidationError

from app.policy.engine.document import (
    PolicyDocument,
    Timing,
    default_policy_text,
    load_default_policy,
    parse_duration,
    parse_policy,
)
from app.policy.engine.errors import PolicyError, PolicyIssue

MINIMAL = """
rules:
  - id: hear-status
    on: [ticket.status_changed]
    to: [requester]
    via: [in_app]
"""


def _rule(body: str, rule_id: str = "r1") -> str:
    """A policy with one rule; `body` holds the rule's keys other than `id`."""
    indented = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    return f"rules:\n  - id: {rule_id}\n{indented}\n"


def _errors(text: str) -> list[PolicyIssue]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return caught.value.errors


class TestParsePolicy:
    def test_a_minimal_policy_parses_with_safe_defaults(self) -> None:
        document = parse_policy(MINIMAL)
        (rule,) = document.rules
        assert rule.on == ["ticket.status_changed"]  # `on:` is a key, not YAML 1.1's True
        assert rule.respect_quiet_hours is True
        assert rule.require_approval is False
        assert rule.timing == Timing()
        assert document.approval.two_person_rule is True
        assert document.redaction.profile_for("public") == "strict"

    def test_timing_forms(self) -> None:
        base = "on: [ticket.status_changed]\nto: [requester]\nvia: [email]\n"
        assert parse_policy(_rule(base + "timing: immediate")).rules[0].timing.delay is None
        delayed = parse_policy(_rule(base + "timing: {delay: 1h30m}")).rules[0].timing
        assert delayed.delay_seconds == 5400
        digest = parse_policy(_rule(base + "timing: {digest: daily}")).rules[0].timing
        assert digest.digest == "daily"

    def test_the_api_path_cannot_skip_the_safety_rule(self) -> None:
        unsafe = {
            "rules": [{"id": "leak", "on": ["chat.message"], "to": ["requester"], "via": ["email"]}]
        }
        with pytest.raises(ValidationError, match=r"event\.visibility"):
            PolicyDocument.model_validate(unsafe)

    def test_the_default_policy_is_valid_and_commented(self) -> None:
        document = load_default_policy()
        assert len({rule.id for rule in document.rules}) == len(document.rules)
        assert "# " in default_policy_text()


# (rule body, expected path, fragment of the message)
BAD_RULES = [
    ("on: [chat.mesage]\nto: [agents]\nvia: [in_app]", "on[0]", "not a known event type"),
    ("on: [ticket.created]\nto: [agents, publik]\nvia: [in_app]", "to[1]", "not a known audience"),
    ("on: [ticket.created]\nto: [agents]\nvia: [emial]", "via[0]", "not a known channel"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\ntos: [x]", "", "did you mean 'to'"),
    ("on: [ticket.created]\nvia: [in_app]", "", "required key 'to' is missing"),
    ("on: []\nto: [agents]\nvia: [in_app]", "on", "at least one"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\ntiming: {delay: 5 minutes}",
     "timing.delay", "not a duration"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\ntiming: {delay: 0m}",
     "timing.delay", "zero"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\ntiming: {delay: 30d}",
     "timing.delay", "7 days"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\ntiming: soon", "timing", "unknown"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\ntiming: {delay: 5m, digest: daily}",
     "timing", "not both"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\ntiming: {digest: weekly}",
     "timing.digest", "not a known digest cadence"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\n"
     "when: {field: event.body, op: matches, value: '(['}", "when", "invalid regular expression"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\n"
     "when: {all: [{field: ticket.colour, op: eq, value: red}]}", "when.all[0]", "unknown field"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\n"
     "when: {field: ticket.priority, op: equals, value: P1}", "when", "unknown op"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\n"
     "when: {field: ticket.priority, op: in, value: P1}", "when", "non-empty list"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\n"
     "when: {field: ticket.priority, op: eq, value: P5}", "when", "never 'P5'"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\n"
     "when: {field: ticket.status, op: gt, value: open}", "when", "ordered fields"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\n"
     "when: {any: [], field: ticket.status}", "when", "exactly one of"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\nwhen: {all: []}", "when", "at least one"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\n"
     "when: {not: {field: event.visibility, op: eq, value: Public}}", "when.not", "never 'Public'"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\n"
     "when: {field: event.mentions, op: exists, value: maybe}", "when", "true or false"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\nredaction: {publik: strict}",
     "redaction.publik", "not a known audience"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\nredaction: {requester: loose}",
     "redaction.requester", "not a known redaction profile"),
    ("on: [ticket.created]\nto: [requester]\nvia: [in_app]\nredaction: {requester: none}",
     "redaction", "use standard or strict"),
    ("on: [ticket.created]\nto: [agents]\nvia: [in_app]\nrespect_quiet_hours: sometimes",
     "respect_quiet_hours", "got 'sometimes'"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "path", "fragment"), BAD_RULES, ids=[b[2] for b in BAD_RULES])
def test_every_error_names_rule_field_and_line(body: str, path: str, fragment: str) -> None:
    errors = _errors(_rule(body, rule_id="broken-rule"))
    matching = [e for e in errors if fragment in e.message]
    assert matching, [str(e) for e in errors]
    issue = matching[0]
    assert (issue.rule, issue.path) == ("broken-rule", path)
    assert (issue.line or 0) >= 2
    assert str(issue).startswith(f"line {issue.line}: rule 'broken-rule'")


def test_every_problem_is_reported_at_once() -> None:
    text = """
rules:
  - id: one
    on: [ticket.bogus]
    to: [agents]
    via: [in_app]
  - id: two
    on: [ticket.created]
    to: [nobody]
    via: [in_app]
  - on: [chat.message]
    to: [requester]
    via: [in_app]
  - id: four
    on: [chat.message]
    to: [followers]
    via: [in_app]
redaction:
  internal_domains: ["not a domain"]
"""
    errors = _errors(text)
    assert {e.rule for e in errors} == {"one", "two", "#3", "four", None}
    assert [e.line for e in errors] == sorted(e.line or 0 for e in errors)
    assert any(e.rule == "#3" and "required key 'id'" in e.message for e in errors)
    assert any(e.rule == "four" and "event.visibility" in e.message for e in errors)
    assert any(e.path == "redaction.internal_domains" for e in errors)


class TestDocumentLevelErrors:
    def test_yaml_syntax_error_has_a_line(self) -> None:
        (issue,) = _errors("rules:\n  - id: x\n    on: [a\n  - id: y\n")
        assert issue.message.startswith("YAML syntax")
        assert issue.line is not None

    def test_not_a_mapping(self) -> None:
        (issue,) = _errors("- just\n- a list\n")
        assert "mapping" in issue.message

    def test_duplicate_rule_ids(self) -> None:
        text = MINIMAL + MINIMAL.split("rules:\n", 1)[1]
        (issue,) = _errors(text)
        assert (issue.rule, issue.path, issue.line) == ("hear-status", "id", 7)
        assert "duplicate" in issue.message

    def test_a_key_given_twice_is_not_silently_dropped(self) -> None:
        text = MINIMAL + "    to: [public]\n"
        issue = next(e for e in _errors(text) if e.message == "key given twice")
        assert (issue.rule, issue.path, issue.line) == ("hear-status", "to", 7)

    def test_version_is_kept_by_the_service(self) -> None:
        (issue,) = _errors("version: 3\n" + MINIMAL)
        assert "versions" in issue.message

    @pytest.mark.parametrize(
        ("redaction", "path", "fragment"),
        [
            ("custom_patterns: [{name: tag, pattern: '(', label: x}]",
             "redaction.custom_patterns[0].pattern", "invalid regular expression"),
            ("custom_patterns: [{name: tag, pattern: 'a*', label: x}]",
             "redaction.custom_patterns[0].pattern", "matches empty text"),
            ("profiles: {public: standard}", "redaction.profiles", "strict"),
            ("internal_domains: ['bad domain']", "redaction.internal_domains", "not a domain"),
        ],
    )  # fmt: skip
    def test_redaction_settings(self, redaction: str, path: str, fragment: str) -> None:
        (issue,) = _errors(MINIMAL + "redaction:\n  " + redaction + "\n")
        assert (issue.rule, issue.path) == (None, path)
        assert fragment in issue.message

    def test_issues_serialise_for_the_api(self) -> None:
        (issue,) = _errors(_rule("on: [chat.message]\nto: [requester]\nvia: [in_app]"))
        assert issue.as_dict() == {
            "rule": "r1", "path": "when", "line": 2, "message": issue.message,
        }  # fmt: skip


# Rules refused at save time: (rule body, fragment of the message)
UNSAFE = [
    ("on: [chat.message]\nto: [requester]\nvia: [in_app]", "event.visibility"),
    ("on: [ticket.commented]\nto: [followers, agents]\nvia: [email]", "event.visibility"),
    ("on: [chat.message]\nto: [mentioned]\nvia: [in_app]\n"
     "when: {not: {field: event.visibility, op: eq, value: public}}", "event.visibility"),
    ("on: [chat.message]\nto: [requester]\nvia: [in_app]\n"
     "when: {any: [{field: event.visibility, op: eq, value: public},"
     " {field: ticket.priority, op: eq, value: P1}]}", "event.visibility"),
    ("on: [chat.message]\nto: [service_subscribers]\nvia: [in_app]\n"
     "when: {field: recipient.role, op: ne, value: end_user}", "event.visibility"),
    ("on: [status.update]\nto: [employees]\nvia: [in_app]", "event.audience"),
    ("on: [status.resolved]\nto: [service_subscribers]\nvia: [email]\n"
     "when: {field: event.audience, op: ne, value: public}", "event.audience"),
    ("on: [status.update]\nto: [public]\nvia: [status_page]\n"
     "when: {field: event.audience, op: in, value: [employees, public]}", "event.audience"),
    ("on: [status.update]\nto: [public]\nvia: [status_page, email]\n"
     "when: {field: event.audience, op: eq, value: public}", "only via status_page"),
    ("on: [ticket.status_changed]\nto: [requester]\nvia: [feed]", "publish to the public only"),
    ("on: [ticket.created]\nto: [public]\nvia: [status_page]", "only hears status"),
    ("on: [ticket.created]\nto: [agents]\nvia: [ticket]", "only on chat.message"),
    ("on: [chat.message]\nto: [requester]\nvia: [ticket]\n"
     "when: {field: event.visibility, op: eq, value: public}", "to: [agents]"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "fragment"), UNSAFE, ids=[str(i) for i in range(len(UNSAFE))])
def test_unsafe_rules_are_refused_at_save_time(body: str, fragment: str) -> None:
    errors = _errors(_rule(body, rule_id="unsafe"))
    assert any(e.rule == "unsafe" and fragment in e.message for e in errors), errors


SAFE = [
    "on: [chat.message]\nto: [requester]\nvia: [in_app]\n"
    "when: {field: event.visibility, op: eq, value: public}",
    "on: [chat.message]\nto: [requester]\nvia: [in_app]\n"
    "when: {field: event.visibility, op: ne, value: internal}",
    "on: [ticket.commented]\nto: [followers]\nvia: [in_app]\n"
    "when: {not: {field: event.visibility, op: in, value: [internal]}}",
    "on: [chat.message, ticket.status_changed]\nto: [requester]\nvia: [in_app]\n"
    "when: {all: [{field: ticket.priority, op: in, value: [P1, P2]},"
    " {field: event.visibility, op: eq, value: public}]}",
    "on: [chat.message]\nto: [requester]\nvia: [in_app]\n"
    "when: {any: [{all: [{field: event.visibility, op: eq, value: public},"
    " {field: ticket.priority, op: eq, value: P1}]},"
    " {field: event.visibility, op: eq, value: public}]}",
    "on: [chat.message]\nto: [mentioned]\nvia: [in_app]\n"
    "when: {field: recipient.role, op: in, value: [agent, admin]}",
    "on: [chat.message, ticket.commented]\nto: [assignee, agents]\nvia: [in_app, email]",
    "on: [status.update]\nto: [employees]\nvia: [email]\n"
    "when: {field: event.audience, op: in, value: [employees, public]}",
    "on: [status.update, status.resolved]\nto: [public]\nvia: [status_page, feed, subscribers]\n"
    "when: {field: event.audience, op: eq, value: public}",
    "on: [chat.message]\nto: [agents]\nvia: [ticket]",
]  # fmt: skip


@pytest.mark.parametrize("body", SAFE, ids=[str(i) for i in range(len(SAFE))])
def test_provably_safe_rules_are_accepted(body: str) -> None:
    assert parse_policy(_rule(body)).rules[0].id == "r1"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1h30m", 5400)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m5", "5 m", "1.5h", "-5m", "5w"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
