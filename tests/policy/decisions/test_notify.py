"""notify_event: audiences resolved in bulk, decisions stored once, invariants kept."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.models import ApprovalRequest, PolicyDecision, Role, User
from app.policy.decisions import audiences
from app.policy.decisions.audiences import Resolved, register_audience, resolve_recipients
from app.policy.decisions.notify import notify_event
from app.policy.decisions.sources import EventScope
from app.policy.engine.evaluator import PolicyEvent
from app.policy.service import do_apply_policy, explain
from tests.factories import create_user
from tests.policy.support import (
    notify,
    outcomes,
    policy_yaml,
    store_event,
    stored_decisions,
    ticket_for,
)

EVERYONE_HEARS_PUBLIC_COMMENTS = policy_yaml("""
    - id: all-hear-public-comments
      on: [ticket.commented, ticket.status_changed]
      to: [employees, requester, agents, mentioned, followers]
      via: [in_app, email]
      when: {field: event.visibility, op: eq, value: public}
""")


@pytest.fixture
def followers_are_everyone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in followers resolver (every end user follows), restored afterwards."""
    monkeypatch.setitem(
        audiences._RESOLVERS,
        "followers",
        lambda _e, _s: Resolved(users=select(User.id).where(User.role == "end_user")),
    )


class TestIdempotency:
    async def test_notifying_an_event_twice_stores_and_returns_the_same_decisions(
        self, session: AsyncSession
    ) -> None:
        rita, _ = await create_user(session)
        ticket = await ticket_for(session, requester=rita)
        event = await store_event(session, ticket, kind="ticket.resolved", new="resolved")
        first = await notify(session, event)
        count = await session.scalar(select(func.count()).select_from(PolicyDecision))
        again = await notify(session, event)
        assert await session.scalar(select(func.count()).select_from(PolicyDecision)) == count
        assert sorted(first, key=repr) == sorted(again, key=repr)
        assert outcomes(first, rita) == {"in_app": "send", "email": "send"}

    async def test_a_second_policy_does_not_rewrite_decisions_already_made(
        self, session: AsyncSession
    ) -> None:
        rita, _ = await create_user(session)
        ticket = await ticket_for(session, requester=rita)
        event = await store_event(session, ticket, kind="ticket.resolved", new="resolved")
        await notify(session, event)
        silent = policy_yaml("""
            - id: agents-only
              on: [ticket.created]
              to: [agents]
              via: [in_app]
        """)
        await do_apply_policy(session, yaml_text=silent, created_by_user_id=None)
        again = await notify(session, event)
        assert outcomes(again, rita) == {"in_app": "send", "email": "send"}


class TestAudiences:
    async def test_employees_reach_only_people_who_may_see_the_ticket(
        self, session: AsyncSession
    ) -> None:
        await do_apply_policy(
            session, yaml_text=EVERYONE_HEARS_PUBLIC_COMMENTS, created_by_user_id=None
        )
        rita, _ = await create_user(session)
        stranger, _ = await create_user(session)
        agent, _ = await create_user(session, role=Role.AGENT)
        gone, _ = await create_user(session)
        gone.is_active = False
        ticket = await ticket_for(session, requester=rita)
        event = await store_event(session, ticket, body="fixed")
        decisions = await notify(session, event)
        assert outcomes(decisions, rita) == {"in_app": "send", "email": "send"}
        assert outcomes(decisions, agent) == {"in_app": "send", "email": "send"}
        assert outcomes(decisions, stranger) == {"in_app": "suppress", "email": "suppress"}
        assert outcomes(decisions, gone) == {}
        (row,) = [
            d
            for d in await stored_decisions(session, event)
            if d.recipient_user_id == stranger.id and d.channel == "email"
        ]
        assert row.reasons[0]["sentence"] == "the recipient may not see this ticket"

    async def test_one_person_in_several_audiences_gets_one_decision_per_channel(
        self, session: AsyncSession
    ) -> None:
        await do_apply_policy(
            session, yaml_text=EVERYONE_HEARS_PUBLIC_COMMENTS, created_by_user_id=None
        )
        rita, _ = await create_user(session)
        ticket = await ticket_for(session, requester=rita)
        event = await store_event(session, ticket, mentions=[rita.id])
        decisions = await notify(session, event)
        mine = [d for d in decisions if d.recipient_key == f"user:{rita.id}"]
        assert sorted(d.channel for d in mine) == ["email", "in_app"]
        # Reached as employee, requester and mentioned: explained as the most exposed.
        assert {d.audience for d in mine} == {"employees"}

    @pytest.mark.usefixtures("followers_are_everyone")
    async def test_a_registered_resolver_is_used_in_bulk(self, session: AsyncSession) -> None:
        rita, _ = await create_user(session)
        others = [(await create_user(session))[0] for _ in range(30)]
        ticket = await ticket_for(session, requester=rita)
        event = await store_event(session, ticket, kind="ticket.resolved", new="resolved")
        decisions = await notify(session, event)
        # Followers who may not see someone else's ticket are suppressed, not skipped.
        assert {outcomes(decisions, o)["email"] for o in others} == {"suppress"}
        assert outcomes(decisions, rita) == {"in_app": "send", "email": "send"}

    async def test_a_ticket_event_without_its_ticket_id_reaches_no_end_user(
        self, session: AsyncSession
    ) -> None:
        rita, _ = await create_user(session)
        ticket = await ticket_for(session, requester=rita)
        row = await store_event(session, ticket, kind="ticket.resolved", new="resolved")
        from app.policy.decisions.ticket_events import build_ticket_event

        sourced = build_ticket_event(row, ticket, None)
        assert sourced is not None
        recipients = await resolve_recipients(
            session, sourced.event, EventScope(), {"requester", "agents"}
        )
        assert [r.may_see_ticket for r in recipients if r.user_id == rita.id] == [False]

    async def test_unknown_audience_names_are_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown audience"):
            register_audience("everyone", lambda _e, _s: Resolved())  # type: ignore[arg-type]


class TestInternalStaysInternal:
    @pytest.mark.parametrize("kind", ["ticket.commented", "ticket.status_changed"])
    @pytest.mark.usefixtures("followers_are_everyone")
    async def test_no_delivering_decision_gives_an_outsider_internal_content(
        self, session: AsyncSession, kind: str
    ) -> None:
        rita, _ = await create_user(session)
        agent, _ = await create_user(session, role=Role.AGENT)
        for text in (EVERYONE_HEARS_PUBLIC_COMMENTS, None):
            if text:
                await do_apply_policy(session, yaml_text=text, created_by_user_id=None)
            ticket = await ticket_for(session, requester=rita, assignee=agent)
            events = [
                await store_event(session, ticket, kind=kind, visibility=v, mentions=[rita.id])
                for v in ("internal", "public")
            ]
            decisions = await notify(session, *events)
            roles = {u.id: u.role for u in (await session.execute(select(User))).scalars()}
            delivered = [d for d in decisions if d.outcome != "suppress"]
            assert delivered, "a policy that delivers nothing proves nothing"
            for decision in delivered:
                user_id = int(decision.recipient_key.split(":")[1])
                if not roles[user_id].is_staff:
                    assert decision.body_variant != "internal", decision
                    assert decision.event_key == f"ticket_event:{events[1].id}"


class TestApprovalAndRedaction:
    async def test_a_held_event_opens_one_approval_with_what_the_scan_found(
        self, session: AsyncSession
    ) -> None:
        held = policy_yaml("""
            - id: replies-need-a-second-look
              on: [ticket.commented]
              to: [requester]
              via: [email]
              when: {field: event.visibility, op: eq, value: public}
              require_approval: true
        """)
        await do_apply_policy(session, yaml_text=held, created_by_user_id=None)
        rita, _ = await create_user(session)
        agent, _ = await create_user(session, role=Role.AGENT)
        ticket = await ticket_for(session, requester=rita)
        body = "Restart 10.1.2.3 with password=hunter22"
        event = await store_event(session, ticket, body=body, actor=agent)
        decisions = await notify(session, event)
        assert outcomes(decisions, rita) == {"email": "hold", "in_app": "suppress"}
        await notify(session, event)
        (approval,) = (await session.execute(select(ApprovalRequest))).scalars()
        assert approval.status == "pending"
        assert approval.requested_by_user_id == agent.id
        assert {f["label"] for f in approval.findings} == {"[IP address]", "[secret]"}
        (row,) = [d for d in await stored_decisions(session, event) if d.channel == "email"]
        assert "hunter22" not in str(row.redactions)
        assert "10.1.2.3" not in str(row.redactions)
        explained = await explain(
            session, event_key=row.event_key, recipient_key=row.recipient_key, channel="email"
        )
        assert explained is not None
        assert explained.approval is not None
        text = "\n".join(explained.lines)
        assert "Held for approval" in text
        assert "[IP address]" in text
        assert "waiting for an approver" in text


async def test_status_updates_reach_the_public_only_on_hold(session: AsyncSession) -> None:
    """A status event (no ticket) for the public: held, never sent straight out."""
    event = PolicyEvent(
        key="status_update:test-1",
        type="status.update",
        visibility="public",
        occurred_at=utcnow(),
        body="internal: db01 failover",
        public_body="Mail is slow; we are on it.",
        audience="public",
    )
    decisions = await notify_event(session, event, EventScope(subject="Mail is slow"))
    public = [d for d in decisions if d.recipient_key == "public"]
    assert {d.channel for d in public} == {"status_page", "feed", "subscribers"}
    assert {d.outcome for d in public} == {"hold"}
    assert {d.body_variant for d in public} == {"public"}
