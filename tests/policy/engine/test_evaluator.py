"""The pure evaluator: rule selection, invariants, approval, timing and explanations."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from app.policy.engine import conditions
from app.policy.engine.document import Audience, Channel, PolicyDocument, Rule, parse_policy
from app.policy.engine.evaluator import (
    Actor,
    PolicyEvent,
    Recipient,
    RecipientRole,
    TicketFacts,
    evaluate,
)
from app.policy.engine.schedule import Preferences, QuietHours

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)  # a Tuesday, 13:00 in Paris
TICKET = TicketFacts(priority="P3", status="open", service="mail", requester_id=3)


def _policy(rules: str) -> PolicyDocument:
    return parse_policy("rules:\n" + textwrap.indent(textwrap.dedent(rules), "  "))


def _event(**changes: object) -> PolicyEvent:
    base = PolicyEvent(
        key="ev-1", type="ticket.status_changed", visibility="public", occurred_at=NOW,
        actor=Actor(user_id=1, role="agent"), ticket=TICKET, new_status="pending",
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def _person(
    user_id: int,
    *audiences: Audience,
    role: RecipientRole = "end_user",
    channels: tuple[Channel, ...] = ("in_app", "email"),
    **changes: object,
) -> Recipient:
    base = Recipient(
        key=f"user:{user_id}", role=role, audiences=frozenset(audiences),
        channels=frozenset(channels), may_see_ticket=True, user_id=user_id,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


STATUS_RULE = """
- id: hear-status
  on: [ticket.status_changed]
  to: [requester, followers]
  via: [in_app, email]
"""


class TestRuleSelection:
    def test_no_rule_means_suppress(self) -> None:
        agent = _person(9, "agents", role="agent", channels=("in_app",))
        (decision,) = evaluate(_policy(STATUS_RULE), _event(), [agent], NOW)
        assert decision.outcome == "suppress"
        assert decision.rule_id is None
        assert decision.reasons[0].sentence.startswith("no rule matched")

    def test_one_decision_per_recipient_and_accepted_channel(self) -> None:
        people = [_person(3, "requester"), _person(4, "followers", channels=("email",))]
        decisions = evaluate(_policy(STATUS_RULE), _event(), people, NOW)
        assert [(d.recipient_key, d.channel, d.outcome) for d in decisions] == [
            ("user:3", "email", "send"), ("user:3", "in_app", "send"), ("user:4", "email", "send"),
        ]  # fmt: skip
        assert all(d.rule_id == "hear-status" and d.event_key == "ev-1" for d in decisions)

    def test_the_first_matching_rule_wins(self) -> None:
        policy = _policy("""
            - id: p1-first
              on: [ticket.status_changed]
              to: [requester]
              via: [email]
              when: {field: ticket.priority, op: eq, value: P1}
              require_approval: true
            - id: everyone-else
              on: [ticket.status_changed]
              to: [requester]
              via: [email]
        """)  # fmt: skip
        requester = _person(3, "requester", channels=("email",))
        (p3,) = evaluate(policy, _event(), [requester], NOW)
        (p1,) = evaluate(policy, _event(ticket=replace(TICKET, priority="P1")), [requester], NOW)
        assert (p3.rule_id, p3.outcome) == ("everyone-else", "send")
        assert (p1.rule_id, p1.outcome) == ("p1-first", "hold")

    def test_failed_conditions_explain_a_suppression(self) -> None:
        policy = _policy("""
            - id: urgent-only
              on: [ticket.status_changed]
              to: [requester]
              via: [email]
              when: {field: ticket.priority, op: in, value: [P1, P2]}
        """)  # fmt: skip
        (decision,) = evaluate(
            policy, _event(), [_person(3, "requester", channels=("email",))], NOW
        )
        sentences = [(r.kind, r.matched, r.sentence) for r in decision.reasons]
        assert sentences == [
            ("rule", False, "no rule matched ticket.status_changed for requester via email"),
            ("rule", False, "rule 'urgent-only': conditions not met"),
            ("condition", False, "ticket.priority is one of [P1, P2]: no (it is P3)"),
        ]

    def test_matched_conditions_are_in_the_decision(self) -> None:
        policy = _policy("""
            - id: for-agents
              on: [chat.message]
              to: [mentioned]
              via: [in_app]
              when: {field: recipient.role, op: in, value: [agent, admin]}
        """)  # fmt: skip
        event = _event(type="chat.message", visibility="internal", mentions=frozenset({5, 6}))
        agent = _person(5, "mentioned", role="agent", channels=("in_app",))
        user = _person(6, "mentioned", channels=("in_app",))
        to_agent, to_user = evaluate(policy, event, [agent, user], NOW)
        assert (to_agent.outcome, to_agent.body_variant) == ("send", "internal")
        assert any(r.kind == "condition" and r.matched for r in to_agent.reasons)
        assert to_user.outcome == "suppress"

    def test_conditions_are_decided_once_per_event_not_per_recipient(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls = []
        real = conditions.evaluate_condition

        def counting(node: conditions.ConditionNode, facts: dict[str, object]) -> object:
            calls.append(1)
            return real(node, facts)

        monkeypatch.setattr("app.policy.engine.evaluator.evaluate_condition", counting)
        policy = _policy(STATUS_RULE + "  when: {field: ticket.priority, op: ne, value: P4}\n")
        followers = [_person(i, "followers") for i in range(1000)]
        decisions = evaluate(policy, _event(), followers, NOW)
        assert len(decisions) == 2000
        assert len(calls) == 1

    def test_evaluation_is_deterministic(self) -> None:
        people = [
            _person(i, "followers", preferences=Preferences("Europe/Paris")) for i in range(5)
        ]
        first = evaluate(_policy(STATUS_RULE), _event(), people, NOW)
        assert first == evaluate(_policy(STATUS_RULE), _event(), people, NOW)

    def test_a_rule_that_cannot_be_read_fails_closed(self) -> None:
        # A stored policy corrupted past validation: `when` is raw data, not a Condition.
        broken = Rule.model_construct(
            id="broken",
            on=["ticket.status_changed"],
            to=["requester"],
            via=["email"],
            when={"field": "ticket.priority"},  # type: ignore[arg-type]
        )
        policy = PolicyDocument.model_construct(rules=[broken])
        (decision,) = evaluate(
            policy, _event(), [_person(3, "requester", channels=("email",))], NOW
        )
        assert decision.outcome == "suppress"


class TestInvariants:
    def test_a_recipient_who_may_not_see_the_ticket_hears_nothing(self) -> None:
        stranger = _person(3, "requester", may_see_ticket=False)
        decisions = evaluate(_policy(STATUS_RULE), _event(), [stranger], NOW)
        assert {d.outcome for d in decisions} == {"suppress"}
        assert decisions[0].reasons[0].sentence == "the recipient may not see this ticket"

    def test_the_actor_is_not_told_about_their_own_action(self) -> None:
        requester = _person(3, "requester", channels=("in_app",))
        event = _event(actor=Actor(user_id=3, role="end_user"))
        (decision,) = evaluate(_policy(STATUS_RULE), event, [requester], NOW)
        assert decision.outcome == "suppress"
        assert decision.reasons[-1].kind == "actor"
        (told,) = evaluate(_policy(STATUS_RULE + "  notify_actor: true\n"), event, [requester], NOW)
        assert told.outcome == "send"

    def test_status_updates_give_each_audience_its_own_text(self) -> None:
        policy = _policy("""
            - id: staff
              on: [status.update]
              to: [agents]
              via: [in_app]
            - id: employees
              on: [status.update]
              to: [employees]
              via: [in_app]
              when: {field: event.audience, op: in, value: [employees, public]}
        """)  # fmt: skip
        event = _event(type="status.update", ticket=None, audience="employees",
                       body="root cause: db01 disk", public_body="Mail is slow")  # fmt: skip
        agent = _person(1, "agents", role="agent", channels=("in_app",))
        employee = _person(2, "employees", channels=("in_app",))
        to_agent, to_employee = evaluate(policy, replace(event, actor=None), [agent, employee], NOW)
        assert (to_agent.outcome, to_agent.body_variant) == ("send", "internal")
        assert (to_employee.outcome, to_employee.body_variant) == ("send", "public")
        (no_text,) = evaluate(policy, replace(event, public_body=None), [employee], NOW)
        assert no_text.outcome == "suppress"


class TestApproval:
    def test_require_approval_holds(self) -> None:
        policy = _policy(STATUS_RULE + "  require_approval: true\n")
        decisions = evaluate(policy, _event(), [_person(3, "requester")], NOW)
        assert {(d.outcome, d.deliver_at) for d in decisions} == {("hold", None)}

    def test_the_public_always_waits_for_an_approver(self) -> None:
        policy = _policy("""
            - id: public
              on: [status.update]
              to: [public]
              via: [status_page, feed]
              when: {field: event.audience, op: eq, value: public}
        """)  # fmt: skip
        page = Recipient(
            key="public",
            role="public",
            audiences=frozenset({"public"}),
            channels=frozenset({"status_page", "feed"}),
            may_see_ticket=False,
        )
        event = _event(type="status.update", ticket=None, audience="public", public_body="ok")
        decisions = evaluate(policy, event, [page], NOW)
        assert [d.outcome for d in decisions] == ["hold", "hold"]
        assert {d.redaction_profile for d in decisions} == {"strict"}


class TestTiming:
    def test_rule_delay_is_counted_from_the_event(self) -> None:
        policy = _policy(STATUS_RULE + "  timing: {delay: 2m}\n")
        event = _event(occurred_at=NOW - timedelta(seconds=30))
        (decision,) = evaluate(policy, event, [_person(3, "requester", channels=("email",))], NOW)
        assert (decision.outcome, decision.deliver_at) == ("delay", NOW + timedelta(seconds=90))

    def test_quiet_hours_delay_email_but_not_the_inbox(self) -> None:
        night = Preferences("Europe/Paris", QuietHours(time(22, 0), time(7, 0)))
        late = datetime(2025, 3, 4, 22, 30, tzinfo=UTC)  # 23:30 in Paris
        person = _person(3, "requester", preferences=night)
        email, in_app = evaluate(_policy(STATUS_RULE), _event(occurred_at=late), [person], late)
        assert (email.outcome, email.deliver_at) == (
            "delay",
            datetime(2025, 3, 5, 6, 0, tzinfo=UTC),
        )
        assert in_app.outcome == "send"
        assert "quiet hours 22:00-07:00" in email.reasons[-1].sentence

    def test_a_p1_rule_breaks_through_quiet_hours_and_digests(self) -> None:
        night = Preferences("UTC", QuietHours(time(0, 0), time(23, 59)), digest="daily")
        policy = _policy(STATUS_RULE + "  respect_quiet_hours: false\n")
        person = _person(3, "requester", channels=("email",), preferences=night)
        (email,) = evaluate(policy, _event(), [person], NOW)
        assert (email.outcome, email.deliver_at) == ("send", None)

    @pytest.mark.parametrize(
        ("mode", "expected"),
        [("hourly", datetime(2025, 3, 4, 13, 0, tzinfo=UTC)),
         ("daily", datetime(2025, 3, 5, 7, 0, tzinfo=UTC))],  # 08:00 in Paris
    )  # fmt: skip
    def test_digest_preference(self, mode: str, expected: datetime) -> None:
        prefs = Preferences("Europe/Paris", digest=mode)  # type: ignore[arg-type]
        person = _person(3, "requester", channels=("email",), preferences=prefs)
        (decision,) = evaluate(_policy(STATUS_RULE), _event(), [person], NOW)
        assert (decision.outcome, decision.deliver_at) == ("digest", expected)

    def test_rule_digest_applies_to_every_channel(self) -> None:
        policy = _policy(STATUS_RULE + "  timing: {digest: hourly}\n")
        decisions = evaluate(policy, _event(), [_person(3, "requester")], NOW)
        assert {(d.outcome, d.deliver_at) for d in decisions} == {
            ("digest", datetime(2025, 3, 4, 13, 0, tzinfo=UTC))
        }


class TestRedactionProfile:
    def test_rule_profile_wins_but_never_below_the_floor(self) -> None:
        policy = _policy(STATUS_RULE + "  redaction: {requester: strict}\n")
        (decision,) = evaluate(
            policy, _event(), [_person(3, "requester", channels=("email",))], NOW
        )
        assert decision.redaction_profile == "strict"
        staff = _person(4, "followers", role="agent", channels=("email",))
        (to_staff,) = evaluate(policy, _event(), [staff], NOW)
        assert to_staff.redaction_profile == "none"
