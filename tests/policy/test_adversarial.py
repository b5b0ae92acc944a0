"""Adversarial suite: internal content never leaves, whatever the policy says.

Every case is tried against hostile policies (built with `model_construct`, as a corrupted
or hand-edited stored policy would be) and the shipped default, then against the egress
guard with the facts a channel would present. Both must stop it. The last part proves that
legitimate messages do go out, so a policy that sends nothing cannot pass this file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import get_args

import pytest

from app.policy import (
    Actor,
    InternalContentLeak,
    PolicyDocument,
    PolicyEvent,
    Recipient,
    TicketFacts,
    destination_is_internal,
    evaluate,
    guard_egress,
    load_default_policy,
    must_hold_for_approval,
    redact,
)
from app.policy.engine.conditions import ConditionValue
from app.policy.engine.document import (
    AUDIENCES,
    CHANNELS,
    EVENT_TYPES,
    Audience,
    Channel,
    Condition,
    EventType,
    RedactionSettings,
    Rule,
    Timing,
)
from app.policy.engine.evaluator import (
    BodyVariant,
    Outcome,
    RecipientRole,
    StatusAudience,
    Visibility,
)
from app.policy.guard.egress import ContentVisibility

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
OUTSIDE_AUDIENCES: tuple[Audience, ...] = tuple(
    a for a in AUDIENCES if a not in ("assignee", "agents")
)
DELIVERED = {"send", "delay", "digest", "hold"}


def _hostile_rule(rule_id: str, when: Condition | None = None) -> Rule:
    # model_construct skips every validator: this is what a corrupted stored policy looks like.
    return Rule.model_construct(
        id=rule_id, on=list(EVENT_TYPES), to=list(AUDIENCES), via=list(CHANNELS), when=when,
        timing=Timing.model_construct(delay=None, digest=None), respect_quiet_hours=False,
        require_approval=False, notify_actor=True, redaction=dict.fromkeys(AUDIENCES, "none"),
    )  # fmt: skip


def _leaf(field: str, op: str, value: ConditionValue) -> Condition:
    return Condition.model_construct(
        all_=None, any_=None, not_=None, field=field, op=op, value=value
    )


def _hostile(*rules: Rule) -> PolicyDocument:
    redaction = RedactionSettings.model_construct(
        profiles=dict.fromkeys(AUDIENCES, "none"), internal_domains=[], custom_patterns=[]
    )
    return PolicyDocument.model_construct(rules=list(rules), redaction=redaction)


HOSTILE_POLICIES: dict[str, PolicyDocument] = {
    "send-everything": _hostile(_hostile_rule("everything")),
    "pin-internal-to-outsiders": _hostile(
        _hostile_rule("internal-out", _leaf("event.visibility", "eq", "internal"))
    ),
    "pin-internal-status": _hostile(
        _hostile_rule("status-out", _leaf("event.audience", "in", ["internal", "employees"]))
    ),
    "default": load_default_policy(),
}

_TICKET = TicketFacts(priority="P1", status="open", service="mail", requester_id=3)
_AGENT = Actor(user_id=1, role="agent")


@dataclass(frozen=True)
class Content:
    """Something that must not reach outsiders, and what egress would be told about it."""

    name: str
    event: PolicyEvent
    visibility: ContentVisibility
    may_see_ticket: bool = True
    only_public_is_forbidden: bool = False


def _event(
    event_type: EventType,
    visibility: Visibility,
    *,
    ticket: TicketFacts | None = None,
    audience: StatusAudience | None = None,
    public_body: str | None = None,
    body: str = "db01.corp.example.com is down",
) -> PolicyEvent:
    return PolicyEvent(
        key=f"{event_type}:{visibility}", type=event_type, visibility=visibility,
        occurred_at=NOW, actor=_AGENT, ticket=ticket, audience=audience,
        public_body=public_body, body=body,
    )  # fmt: skip


CONTENTS = [
    Content("internal-chat", _event("chat.message", "internal", ticket=_TICKET), "internal"),
    Content("internal-note", _event("ticket.commented", "internal", ticket=_TICKET), "internal"),
    Content(
        "internal-status-update",
        _event("status.update", "public", audience="internal", public_body="all good"),
        "internal",
    ),
    Content(
        "internal-status-resolved",
        _event("status.resolved", "public", audience="internal", public_body="fixed"),
        "internal",
    ),
    Content(
        "status-without-audience", _event("status.update", "public", public_body="x"), "internal"
    ),
    Content(
        "status-marked-internal",
        _event("status.update", "internal", audience="public", public_body="ok"),
        "internal",
    ),
    Content(
        "unseen-ticket-public-chat",
        _event("chat.message", "public", ticket=_TICKET),
        "public",
        may_see_ticket=False,
    ),
    Content(
        "unseen-ticket-status-change",
        _event("ticket.status_changed", "public", ticket=_TICKET),
        "public",
        may_see_ticket=False,
    ),
    Content(
        "employees-only-status",
        _event("status.update", "public", audience="employees", public_body="VPN maintenance"),
        "employees",
        only_public_is_forbidden=True,
    ),
]


def _recipient(audience: Audience, channel: Channel, content: Content) -> Recipient:
    role: RecipientRole = "public" if audience == "public" else "end_user"
    if channel in ("webhook", "apprise", "ticket"):
        role = "external"  # a destination, not a person, and not marked internal
    return Recipient(
        key=f"{role}:{audience}:{channel}", role=role, audiences=frozenset({audience}),
        channels=frozenset({channel}), may_see_ticket=content.may_see_ticket, user_id=None,
    )  # fmt: skip


def _cases() -> list[tuple[Content, Audience, Channel]]:
    # Every audience, staff ones included: an end user wrongly resolved into `agents` by a
    # buggy caller must be stopped too.
    cases = []
    for content in CONTENTS:
        for audience in AUDIENCES:
            for channel in CHANNELS:
                exposed = audience == "public" or channel in (
                    "status_page", "feed", "subscribers", "webhook", "apprise", "ticket",
                )  # fmt: skip
                if content.only_public_is_forbidden and not exposed:
                    continue  # employees may read employees-only content
                cases.append((content, audience, channel))
    return cases


CASES = _cases()


def _egress_refuses(
    content: Content, recipient: Recipient, channel: Channel, audience: str
) -> bool:
    inside = destination_is_internal(
        channel, recipient.role, marked_internal=recipient.internal_destination
    )
    try:
        guard_egress(
            content.visibility, recipient.role, inside, audience,
            may_see_ticket=content.may_see_ticket, channel=channel,
        )  # fmt: skip
    except InternalContentLeak:
        return True
    return False


def test_the_suite_is_large_enough() -> None:
    assert len(CASES) >= 100


@pytest.mark.parametrize(
    ("content", "audience", "channel"),
    CASES,
    ids=[f"{c.name}-{a}-{ch}" for c, a, ch in CASES],
)
def test_outsiders_never_receive(content: Content, audience: Audience, channel: Channel) -> None:
    recipient = _recipient(audience, channel, content)
    for name, policy in HOSTILE_POLICIES.items():
        decisions = evaluate(policy, content.event, [recipient], NOW)
        assert [d.outcome for d in decisions] == ["suppress"], name
        assert decisions[0].rule_id is None, f"{name}: an invariant, not a rule, decided"
    assert _egress_refuses(content, recipient, channel, audience)


@pytest.mark.parametrize("content", CONTENTS[:6], ids=[c.name for c in CONTENTS[:6]])
@pytest.mark.parametrize("role", ["agent", "admin", "external"])
@pytest.mark.parametrize("channel", ["webhook", "apprise", "ticket"])
def test_unmarked_staff_destinations_never_receive(
    content: Content, role: RecipientRole, channel: Channel
) -> None:
    # An agent's own Slack webhook, or a ticketing system, is staff-only only once an admin
    # marks it so.
    recipient = Recipient(
        key="dest:7", role=role, audiences=frozenset({"agents", "assignee"}),
        channels=frozenset({channel}), may_see_ticket=True, internal_destination=False,
    )  # fmt: skip
    for name, policy in HOSTILE_POLICIES.items():
        decisions = evaluate(policy, content.event, [recipient], NOW)
        assert [d.outcome for d in decisions] == ["suppress"], name
    inside = destination_is_internal(channel, role, marked_internal=False)
    with pytest.raises(InternalContentLeak):
        guard_egress(
            content.visibility, role, inside, "agents", may_see_ticket=True, channel=channel
        )


SECRETS = {
    "aws-key": "AKIAIOSFODNN7EXAMPLE",
    "github-token": "ghp_" + "a1B2" * 9,
    "slack-token": "xoxb-123456789012-abcdefghij",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9",
    "bearer": "Bearer abcdef0123456789",
    "password": "password=hunter2hunter2",
    "passwd": "passwd: s3cr3t!x",
    "url-password": "https://deploy:Sup3rS3cret@git.example.org/repo",
    "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    "ipv4": "10.20.30.40",
    "ipv6": "2001:db8::8a2e:370:7334",
    "internal-host": "db01.corp.example.com",
}
# What must vanish from the text; for key=value secrets only the value is secret.
_SECRET_CORE = {"password": "hunter2hunter2", "passwd": "s3cr3t!x", "url-password": "Sup3rS3cret",
                "bearer": "abcdef0123456789"}  # fmt: skip
SECRET_CASES = [
    (name, audience, channel)
    for name in SECRETS
    for audience in OUTSIDE_AUDIENCES
    for channel in CHANNELS
    if (channel in ("status_page", "feed", "subscribers")) == (audience == "public")
    and channel != "ticket"
]


@pytest.mark.parametrize(
    ("secret", "audience", "channel"),
    SECRET_CASES,
    ids=[f"{s}-{a}-{c}" for s, a, c in SECRET_CASES],
)
def test_secrets_and_internal_hosts_are_redacted_or_held(
    secret: str, audience: Audience, channel: Channel
) -> None:
    text = f"Update: restart via {SECRETS[secret]} then retry."
    is_public = audience == "public"
    event = _event(
        "status.update" if is_public else "chat.message", "public", body=text, public_body=text,
        audience="public", ticket=None if is_public else _TICKET,
    )  # fmt: skip
    role: RecipientRole = "public" if is_public else "end_user"
    if channel in ("webhook", "apprise"):
        role = "external"
    recipient = Recipient(
        key="r", role=role, audiences=frozenset({audience}), channels=frozenset({channel}),
        may_see_ticket=True,
    )  # fmt: skip
    policy = HOSTILE_POLICIES["send-everything"]  # it asks for no redaction at all
    (decision,) = evaluate(policy, event, [recipient], NOW)
    assert decision.outcome in DELIVERED  # public content: it goes out, but redacted
    assert decision.redaction_profile == ("strict" if is_public else "standard")
    result = redact(text, decision.redaction_profile, ["corp.example.com"])
    assert _SECRET_CORE.get(secret, SECRETS[secret]) not in result.text
    assert result.findings
    if is_public:
        assert decision.outcome == "hold"
        assert must_hold_for_approval("public", result)


def _person(key: str, role: RecipientRole, *audiences: Audience, user_id: int) -> Recipient:
    return Recipient(
        key=key, role=role, audiences=frozenset(audiences), channels=frozenset({"in_app", "email"}),
        may_see_ticket=True, user_id=user_id,
    )  # fmt: skip


REQUESTER = _person("user:3", "end_user", "requester", user_id=3)
ASSIGNEE = _person("user:4", "agent", "assignee", "agents", user_id=4)
MENTIONED_AGENT = _person("user:5", "agent", "mentioned", "agents", user_id=5)
EMPLOYEE = _person("user:6", "end_user", "employees", user_id=6)
TICKET_DESTINATION = Recipient(
    key="ticket:9", role="external", audiences=frozenset({"agents"}),
    channels=frozenset({"ticket"}), may_see_ticket=True, internal_destination=True,
)  # fmt: skip
PUBLIC_PAGE = Recipient(
    key="public", role="public", audiences=frozenset({"public"}),
    channels=frozenset({"status_page", "feed", "subscribers"}), may_see_ticket=False,
)  # fmt: skip


@dataclass(frozen=True)
class Legit:
    """A message the default policy must let through, and how."""

    name: str
    event: PolicyEvent
    recipient: Recipient
    channel: Channel
    outcome: Outcome
    variant: BodyVariant
    visibility: ContentVisibility = "public"


LEGIT = [
    Legit("public-chat-to-requester", _event("chat.message", "public", ticket=_TICKET),
          REQUESTER, "in_app", "send", "public"),
    Legit("public-chat-email-collapses", _event("chat.message", "public", ticket=_TICKET),
          REQUESTER, "email", "delay", "public"),
    Legit("status-change-to-requester", _event("ticket.status_changed", "public", ticket=_TICKET),
          REQUESTER, "email", "delay", "public"),
    Legit("resolution-to-requester", _event("ticket.resolved", "public", ticket=_TICKET),
          REQUESTER, "email", "send", "public"),
    Legit("internal-chat-to-assignee", _event("chat.message", "internal", ticket=_TICKET),
          ASSIGNEE, "in_app", "send", "internal", "internal"),
    Legit("internal-note-to-mentioned-agent",
          _event("ticket.commented", "internal", ticket=_TICKET),
          MENTIONED_AGENT, "in_app", "send", "internal", "internal"),
    Legit("internal-chat-becomes-internal-note",
          _event("chat.message", "internal", ticket=_TICKET),
          TICKET_DESTINATION, "ticket", "send", "internal", "internal"),
    Legit("public-chat-becomes-public-comment", _event("chat.message", "public", ticket=_TICKET),
          TICKET_DESTINATION, "ticket", "send", "public"),
    Legit("p1-created-emails-assignee", _event("ticket.created", "public", ticket=_TICKET),
          ASSIGNEE, "email", "send", "public"),
    Legit("employees-status-to-employee",
          _event("status.update", "public", audience="employees", public_body="VPN tonight"),
          EMPLOYEE, "in_app", "send", "public", "employees"),
    Legit("internal-status-to-agent",
          _event("status.update", "public", audience="internal", public_body=None),
          ASSIGNEE, "in_app", "send", "internal", "internal"),
    Legit("public-status-waits-for-approver",
          _event("status.update", "public", audience="public", public_body="Mail is slow"),
          PUBLIC_PAGE, "status_page", "hold", "public"),
    Legit("survey-after-resolution",
          _event("survey.requested", "public", ticket=replace(_TICKET, status="resolved")),
          REQUESTER, "email", "send", "public"),
]  # fmt: skip


def _check_legit(policy: PolicyDocument, case: Legit) -> str | None:
    """None when the case goes out as expected and egress lets it pass, else what happened."""
    decisions = evaluate(policy, case.event, [case.recipient], NOW)
    (decision,) = [d for d in decisions if d.channel == case.channel]
    if (decision.outcome, decision.body_variant) != (case.outcome, case.variant):
        return f"{case.name}: {decision.outcome}/{decision.body_variant} {decision.reasons}"
    recipient = case.recipient
    inside = destination_is_internal(
        case.channel, recipient.role, marked_internal=recipient.internal_destination
    )
    guard_egress(
        case.visibility, recipient.role, inside, decision.audience,
        may_see_ticket=recipient.may_see_ticket or case.event.ticket is None,
        channel=case.channel,
    )  # fmt: skip
    return None


@pytest.mark.parametrize("case", LEGIT, ids=[case.name for case in LEGIT])
def test_legitimate_messages_go_out(case: Legit) -> None:
    assert _check_legit(HOSTILE_POLICIES["default"], case) is None


def test_a_policy_that_sends_nothing_fails_the_legitimate_cases() -> None:
    failures = [_check_legit(PolicyDocument(rules=[]), case) for case in LEGIT]
    assert all(failure is not None for failure in failures)


def test_the_audience_and_channel_vocabularies_are_all_covered() -> None:
    assert {a for _, a, _ in CASES} == set(AUDIENCES)
    assert {a for _, a, _ in SECRET_CASES} == set(OUTSIDE_AUDIENCES)
    assert {ch for _, _, ch in CASES} == set(get_args(Channel))
