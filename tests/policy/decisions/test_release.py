"""Approving a held event delivers it; rejecting it never does; explain tells either story.

End to end where it matters: the policy holds an event, an approver decides over HTTP, and
the real outbox relay delivers to a real SMTP server (aiosmtpd) or the in-app inbox.
Adversarial: whatever an approver does, internal content never reaches an end user, and
an approval never resurrects what the policy or the egress guard suppressed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.events import notify_pending
from app.models import (
    ApprovalRequest,
    Delivery,
    PolicyDecision,
    Role,
    Survey,
    Ticket,
    TicketEvent,
    TicketFollow,
    User,
)
from app.outbox.enqueue import enqueue_deliveries
from app.policy.decisions.notify import notify_event
from app.policy.decisions.records import decision_from_row
from app.policy.decisions.release import release_approved
from app.policy.decisions.sources import UnknownEventKind, id_in_key, load_event
from app.policy.decisions.ticket_events import build_ticket_event, load_ticket_event
from app.policy.engine.document import (
    AUDIENCES,
    PolicyDocument,
    RedactionSettings,
    Rule,
    Timing,
)
from app.policy.repository import approval_for_event
from app.policy.service import active_policy, do_apply_policy
from tests.factories import auth, create_user
from tests.notifications.receivers import SmtpSink
from tests.notifications.support import make_relay
from tests.policy.support import notify, policy_yaml, store_event, ticket_for
from tests.status.conftest import Desk, add_service, open_incident

HELD = policy_yaml(
    """
    - id: reply-needs-approval
      on: [ticket.commented, ticket.resolved]
      to: [requester, followers]
      via: [email, in_app]
      when: {field: event.visibility, op: eq, value: public}
      require_approval: true
    - id: survey-after-resolution
      on: [survey.requested]
      to: [requester]
      via: [in_app]
      when: {field: ticket.status, op: in, value: [resolved, closed]}
    """
)


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[SmtpSink, str]]:
    sink = SmtpSink()
    url = await sink.start()
    yield sink, url
    await sink.stop()


@dataclass
class People:
    """Who takes part, and the ticket the held event is about."""

    rita: User  # the requester (end user)
    rita_token: str
    author: User  # the agent whose comment is held
    author_token: str
    ann: User  # an admin: an approver
    ann_token: str
    ticket: Ticket


async def _desk(session: AsyncSession, policy: str = HELD, *, status: str = "open") -> People:
    await do_apply_policy(session, yaml_text=policy, created_by_user_id=None)
    rita, rita_token = await create_user(session, name="Rita Requester")
    author, author_token = await create_user(session, role=Role.AGENT, name="Alex Author")
    ann, ann_token = await create_user(session, role=Role.ADMIN, name="Ann Approver")
    ticket = await ticket_for(session, requester=rita, status=status)
    return People(rita, rita_token, author, author_token, ann, ann_token, ticket)


async def _hold(
    session: AsyncSession,
    desk: People,
    *,
    kind: str = "ticket.commented",
    body: str = "We replaced the VPN certificate; please reconnect.",
    visibility: str = "public",
) -> tuple[TicketEvent, int]:
    """A stored event the policy held, committed; the event and its approval request id."""
    event = await store_event(
        session, desk.ticket, kind=kind, body=body, actor=desk.author, visibility=visibility
    )
    decisions = await notify(session, event)
    assert "hold" in {d.outcome for d in decisions}
    request = await approval_for_event(session, f"ticket_event:{event.id}")
    assert request is not None
    await session.commit()
    return event, request.id


async def _decisions(session: AsyncSession, event_key: str, user: User) -> list[PolicyDecision]:
    stmt = (
        select(PolicyDecision)
        .where(PolicyDecision.event_key == event_key, PolicyDecision.recipient_user_id == user.id)
        .order_by(PolicyDecision.channel)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars())


async def _deliveries(session: AsyncSession, event_key: str) -> set[tuple[int | None, str]]:
    stmt = select(Delivery.user_id, Delivery.channel).where(Delivery.event_key == event_key)
    return {(user_id, channel) for user_id, channel in (await session.execute(stmt)).all()}


def _both(user: User) -> set[tuple[int | None, str]]:
    return {(user.id, "email"), (user.id, "in_app")}


def _sentences(row: PolicyDecision) -> list[str]:
    return [str(r["sentence"]) for r in row.reasons]


def _text(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def _approve(client: httpx.AsyncClient, approval_id: int, token: str) -> httpx.Response:
    return await client.post(f"/api/v1/approvals/{approval_id}/approve", headers=auth(token))


class TestApproved:
    async def test_an_approved_comment_is_mailed_once_even_when_approved_twice(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
        smtp: tuple[SmtpSink, str],
    ) -> None:
        sink, url = smtp
        desk = await _desk(session)
        event, approval_id = await _hold(session, desk)
        key = f"ticket_event:{event.id}"
        relay = make_relay(db, smtp_url=url)
        assert await relay.drain() == 0  # held: nothing waits in the outbox
        assert await _deliveries(session, key) == set()

        first = await _approve(client, approval_id, desk.ann_token)
        assert first.status_code == 200, first.text
        assert [(a["action"], a["reason"]) for a in first.json()["audit"]] == [
            ("approve", None),
            ("release", "released 2 of 2 held messages"),
        ]
        again = await _approve(client, approval_id, desk.ann_token)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "already_decided"

        assert await relay.drain() == 2  # the mail and the in-app notice
        assert await relay.drain() == 0
        (mail,) = sink.messages
        assert desk.rita.email in str(mail["To"])
        assert "We replaced the VPN certificate" in _text(mail)
        assert await _deliveries(session, key) == {
            (desk.rita.id, "email"),
            (desk.rita.id, "in_app"),
        }

        # The decision rows were updated in place: sent, due at approval, and why.
        rows = await _decisions(session, key, desk.rita)
        assert [(r.channel, r.outcome) for r in rows] == [("email", "send"), ("in_app", "send")]
        request = await session.get(ApprovalRequest, approval_id, populate_existing=True)
        assert request is not None
        assert request.decided_at is not None
        for row in rows:
            assert row.deliver_at == request.decided_at
            said = _sentences(row)
            assert "held for approval: the rule asks for one" in said
            approved = [s for s in said if s.startswith("approved by Ann Approver on ")]
            assert len(approved) == 1
            assert said[-1] == "released on approval: sent now"

        # A retried release, or the outbox handed the same decisions again, adds nothing.
        assert (
            await release_approved(session, request, desk.ann) == "nothing was held for this event"
        )
        sourced = await load_ticket_event(session, key)
        assert sourced is not None
        released = [decision_from_row(row) for row in rows]
        again_rows = await enqueue_deliveries(
            session, sourced.event, released, ticket_id=desk.ticket.id
        )
        assert again_rows == 0
        assert await relay.drain() == 0
        assert len(sink.messages) == 1

    async def test_explain_tells_the_admin_and_the_requester_who_approved_it(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
    ) -> None:
        desk = await _desk(session)
        event, approval_id = await _hold(session, desk)
        assert (await _approve(client, approval_id, desk.ann_token)).status_code == 200
        await make_relay(db).drain()

        (email_row, _) = await _decisions(session, f"ticket_event:{event.id}", desk.rita)
        admin = await client.get(
            f"/api/v1/decisions/{email_row.id}/explain", headers=auth(desk.ann_token)
        )
        assert admin.status_code == 200, admin.text
        lines = admin.json()["explanation"]
        assert lines[0].startswith(f"Sent to user:{desk.rita.id} (followers) via email")
        assert "yes: held for approval: the rule asks for one" in lines
        assert any(line.startswith("yes: approved by Ann Approver on ") for line in lines)
        assert f"Approval #{approval_id}: it was approved." in lines
        assert admin.json()["approval"]["status"] == "approved"

        inbox = await client.get("/api/v1/me/notifications", headers=auth(desk.rita_token))
        (item,) = inbox.json()["items"]
        assert "We replaced the VPN certificate" in item["body"]
        mine = await client.get(
            f"/api/v1/me/notifications/{item['id']}/explain", headers=auth(desk.rita_token)
        )
        assert mine.status_code == 200, mine.text
        (decided,) = mine.json()["decisions"]
        said = [r["sentence"] for r in decided["reasons"]]
        assert decided["outcome"] == "send"
        assert "held for approval: the rule asks for one" in said
        assert any(s.startswith("approved by Ann Approver on ") for s in said)

    async def test_the_two_person_rule_still_holds_it_back_from_its_author(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
        smtp: tuple[SmtpSink, str],
    ) -> None:
        sink, url = smtp
        desk = await _desk(session)
        desk.author.role = Role.ADMIN  # an approver, but the author of what is held
        await session.flush()
        event, approval_id = await _hold(session, desk)

        mine = await _approve(client, approval_id, desk.author_token)
        assert mine.status_code == 403
        assert mine.json()["error"]["code"] == "two_person_rule"
        assert await make_relay(db, smtp_url=url).drain() == 0
        rows = await _decisions(session, f"ticket_event:{event.id}", desk.rita)
        assert {r.outcome for r in rows} == {"hold"}

        assert (await _approve(client, approval_id, desk.ann_token)).status_code == 200
        assert await make_relay(db, smtp_url=url).drain() == 2
        assert len(sink.messages) == 1

    async def test_an_approved_resolution_asks_for_one_survey_not_two(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
    ) -> None:
        desk = await _desk(session, status="resolved")
        event, approval_id = await _hold(session, desk, kind="ticket.resolved", body="")
        key = f"ticket_event:{event.id}"
        # Not told yet, so not asked yet: the survey waits for the approver.
        assert await session.scalar(select(Survey.id).where(Survey.resolution_key == key)) is None
        assert (await _approve(client, approval_id, desk.ann_token)).status_code == 200

        surveys = list(
            (await session.execute(select(Survey).where(Survey.resolution_key == key))).scalars()
        )
        assert len(surveys) == 1
        assert await _deliveries(session, f"survey:{surveys[0].id}") == {(desk.rita.id, "in_app")}
        assert await _deliveries(session, key) == {
            (desk.rita.id, "email"),
            (desk.rita.id, "in_app"),
        }
        assert await make_relay(db).drain() == 3


class TestRejected:
    async def test_a_rejected_resolution_asks_no_survey(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        desk = await _desk(session, status="resolved")
        event, approval_id = await _hold(session, desk, kind="ticket.resolved", body="")
        rejected = await client.post(
            f"/api/v1/approvals/{approval_id}/reject",
            json={"reason": "not resolved yet"},
            headers=auth(desk.ann_token),
        )
        assert rejected.status_code == 200, rejected.text
        key = f"ticket_event:{event.id}"
        assert await session.scalar(select(Survey.id).where(Survey.resolution_key == key)) is None
        assert await _deliveries(session, key) == set()

    async def test_a_rejected_comment_is_never_delivered_and_explain_says_why(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
        smtp: tuple[SmtpSink, str],
    ) -> None:
        sink, url = smtp
        desk = await _desk(session)
        event, approval_id = await _hold(session, desk)
        key = f"ticket_event:{event.id}"

        rejected = await client.post(
            f"/api/v1/approvals/{approval_id}/reject",
            json={"reason": "wrong ticket"},
            headers=auth(desk.ann_token),
        )
        assert rejected.status_code == 200, rejected.text
        assert [a["action"] for a in rejected.json()["audit"]] == ["reject"]
        late = await _approve(client, approval_id, desk.ann_token)
        assert late.status_code == 409

        assert await make_relay(db, smtp_url=url).drain() == 0
        assert sink.messages == []
        assert await _deliveries(session, key) == set()
        rows = await _decisions(session, key, desk.rita)
        assert {r.outcome for r in rows} == {"suppress"}
        for row in rows:
            last = _sentences(row)[-1]
            assert last.startswith("rejected by Ann Approver on ")
            assert last.endswith(": wrong ticket")

        admin = await client.get(
            f"/api/v1/decisions/{rows[0].id}/explain", headers=auth(desk.ann_token)
        )
        lines = admin.json()["explanation"]
        assert lines[0].startswith(f"Not sent to user:{desk.rita.id}")
        assert any(
            line.startswith("no: rejected by Ann Approver on ") and line.endswith("wrong ticket")
            for line in lines
        )
        assert f"Approval #{approval_id}: it was rejected: wrong ticket." in lines


class TestWhatCannotBeReleased:
    async def test_a_deleted_ticket_releases_nothing_and_the_approval_says_so(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        desk = await _desk(session)
        event, approval_id = await _hold(session, desk)
        key = f"ticket_event:{event.id}"
        await session.execute(delete(Ticket).where(Ticket.id == desk.ticket.id))
        await session.commit()

        response = await _approve(client, approval_id, desk.ann_token)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "approved"
        gone = "the event no longer exists (its ticket or message was deleted)"
        assert response.json()["audit"][-1]["reason"] == f"released nothing: {gone}"
        assert await _deliveries(session, key) == set()
        rows = await _decisions(session, key, desk.rita)
        assert {r.outcome for r in rows} == {"suppress"}
        assert all(_sentences(r)[-1].endswith(f", but not released: {gone}") for r in rows)

    async def test_a_held_event_of_a_kind_no_domain_loads_releases_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        policy = policy_yaml(
            """
            - id: surveys-need-approval
              on: [survey.requested]
              to: [requester]
              via: [in_app]
              when: {field: ticket.status, op: in, value: [resolved, closed]}
              require_approval: true
            """
        )
        desk = await _desk(session, policy, status="resolved")
        event = await store_event(session, desk.ticket, kind="ticket.resolved", body="")
        await notify(session, event)
        survey_id = await session.scalar(
            select(Survey.id).where(Survey.resolution_key == f"ticket_event:{event.id}")
        )
        request = await approval_for_event(session, f"survey:{survey_id}")
        assert request is not None
        await session.commit()

        response = await _approve(client, request.id, desk.ann_token)
        assert response.status_code == 200, response.text
        assert response.json()["audit"][-1]["reason"] == (
            "released nothing: the service cannot read events of this kind back to send them"
        )
        assert await _deliveries(session, f"survey:{survey_id}") == set()


async def _status_desk(
    session: AsyncSession, policy: str
) -> tuple[Desk, str, tuple[User, User, User]]:
    """The status desk under `policy`: Ann (admin), agents Alex (author) and Bo Approver,
    employee Erin; the desk, Ann's token and (alex, bo, erin)."""
    await do_apply_policy(session, yaml_text=policy, created_by_user_id=None)
    _, admin_token = await create_user(session, role=Role.ADMIN, name="Ann Approver")
    alex, alex_token = await create_user(session, role=Role.AGENT)
    bo, bo_token = await create_user(session, role=Role.AGENT, name="Bo Approver")
    erin, erin_token = await create_user(session)
    await session.commit()
    desk = Desk(
        auth(admin_token), auth(alex_token), auth(bo_token), auth(erin_token),
        alex.id, bo.id, erin_token,
    )  # fmt: skip
    return desk, admin_token, (alex, bo, erin)


class TestChatAndStatus:
    async def test_a_held_chat_message_is_delivered_in_app_once_approved(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
    ) -> None:
        policy = policy_yaml(
            """
            - id: replies-need-approval
              on: [chat.message]
              to: [requester, mentioned]
              via: [in_app]
              when: {field: event.visibility, op: eq, value: public}
              require_approval: true
            """
        )
        desk = await _desk(session, policy)
        await session.commit()
        posted = await client.post(
            f"/api/v1/tickets/{desk.ticket.id}/messages",
            json={"body": "Your laptop is ready for pick-up.", "client_msg_id": "m-1"},
            headers=auth(desk.author_token),
        )
        assert posted.status_code == 201, posted.text
        while await notify_pending(db):
            pass
        key = f"chat_message:{posted.json()['id']}"
        request = await approval_for_event(session, key)
        assert request is not None
        assert await _deliveries(session, key) == set()

        response = await _approve(client, request.id, desk.ann_token)
        assert response.status_code == 200, response.text
        assert response.json()["audit"][-1]["reason"] == "released 1 of 1 held message"
        assert await make_relay(db).drain() == 1

        inbox = await client.get("/api/v1/me/notifications", headers=auth(desk.rita_token))
        (item,) = inbox.json()["items"]
        assert "Your laptop is ready for pick-up." in item["body"]
        explained = await client.get(
            f"/api/v1/me/notifications/{item['id']}/explain", headers=auth(desk.rita_token)
        )
        said = [r["sentence"] for r in explained.json()["decisions"][0]["reasons"]]
        assert any(s.startswith("approved by Ann Approver on ") for s in said)

    async def test_a_status_update_a_policy_holds_for_staff_is_released_on_approval(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
    ) -> None:
        # Public updates are approved in the status desk and open no policy approval; a
        # policy may still hold others (here: internal updates for staff).
        policy = policy_yaml(
            """
            - id: staff-status-needs-approval
              on: [status.update, status.resolved]
              to: [agents]
              via: [in_app]
              require_approval: true
            """
        )
        desk, admin_token, (alex, bo, _) = await _status_desk(session, policy)
        await add_service(client, desk, "vpn")
        incident = await open_incident(
            client, desk, ["vpn"], body="Gateway 2 is down, failing over.", audience="internal"
        )
        key = f"status.update:{incident['updates'][0]['id']}"
        request = await approval_for_event(session, key)
        assert request is not None
        assert request.requested_by_user_id == alex.id

        response = await _approve(client, request.id, admin_token)
        assert response.status_code == 200, response.text
        deliveries = await _deliveries(session, key)
        assert (bo.id, "in_app") in deliveries
        assert all(user_id != alex.id for user_id, _ in deliveries)  # the author did it
        await make_relay(db).drain()
        inbox = await client.get("/api/v1/me/notifications", headers=desk.bo)
        assert any("Gateway 2 is down" in i["body"] for i in inbox.json()["items"])

    async def test_a_public_update_approved_at_the_status_desk_releases_what_a_rule_held(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
    ) -> None:
        # The status desk's two-person rule approved the public update: a policy rule that
        # also holds it (here: employees in-app) is released as approved by that person,
        # not left waiting for an approval request that is never opened.
        policy = policy_yaml(
            """
            - id: employees-hear-after-approval
              on: [status.update, status.resolved]
              to: [employees]
              via: [in_app]
              when: {field: event.audience, op: in, value: [employees, public]}
              require_approval: true
            """
        )
        desk, _, (_, _, erin) = await _status_desk(session, policy)
        await add_service(client, desk, "vpn", visibility="public")
        incident = await open_incident(client, desk, ["vpn"], body="VPN is down for everyone.")
        update_id = incident["updates"][0]["id"]
        key = f"status.update:{update_id}"
        assert not await _decisions(session, key, erin)  # a draft: nobody decided yet
        approved = await client.post(f"/api/v1/status/updates/{update_id}/approve", json={},
                                     headers=desk.bo)  # fmt: skip
        assert approved.status_code == 200, approved.text

        assert await approval_for_event(session, key) is None  # no second approval asked
        in_app = [row for row in await _decisions(session, key, erin) if row.channel == "in_app"]
        assert [row.outcome for row in in_app] == ["send"]
        assert "held for approval: the rule asks for one" in _sentences(in_app[0])
        assert any("approved by Bo Approver" in s for s in _sentences(in_app[0]))
        await make_relay(db).drain()
        inbox = await client.get("/api/v1/me/notifications", headers=desk.erin)
        assert any("VPN is down" in i["body"] for i in inbox.json()["items"])


def _hostile_policy() -> PolicyDocument:
    """A stored policy gone wrong: an internal note for the requester, held for approval."""
    # model_construct skips every validator (the save-time safety rule would refuse it).
    rule = Rule.model_construct(
        id="hostile-note-to-requester", on=["ticket.commented"], to=["requester", "agents"],
        via=["email"], when=None, timing=Timing.model_construct(delay=None, digest=None),
        respect_quiet_hours=False, require_approval=True, notify_actor=False,
        redaction=dict.fromkeys(AUDIENCES, "none"),
    )  # fmt: skip
    redaction = RedactionSettings.model_construct(
        profiles=dict.fromkeys(AUDIENCES, "none"), internal_domains=[], custom_patterns=[]
    )
    return PolicyDocument.model_construct(rules=[rule], redaction=redaction)


class TestInternalStaysInternal:
    async def _internal_note_held(self, session: AsyncSession, desk: People) -> tuple[str, int]:
        """An internal note judged by the hostile policy; its key and approval request."""
        row = await store_event(
            session, desk.ticket, body="Root cause: expired cert on vpn-gw-02, pwd rotated.",
            visibility="internal", actor=desk.author,
        )  # fmt: skip
        sourced = build_ticket_event(row, desk.ticket, Role.AGENT)
        assert sourced is not None
        active = replace(await active_policy(session), document=_hostile_policy())
        decisions = await notify_event(session, sourced.event, sourced.scope, policy=active)
        mine = {
            d.channel: d.outcome for d in decisions if d.recipient_key == f"user:{desk.rita.id}"
        }
        # The evaluator refused it (and no rule covers in-app): nothing is held for her.
        assert mine == {"email": "suppress", "in_app": "suppress"}
        request = await approval_for_event(session, sourced.event.key)
        assert request is not None  # held for the staff it also addresses
        return sourced.event.key, request.id

    async def test_approval_never_resurrects_a_suppressed_decision(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
        smtp: tuple[SmtpSink, str],
    ) -> None:
        sink, url = smtp
        desk = await _desk(session)
        key, approval_id = await self._internal_note_held(session, desk)
        (before, _) = await _decisions(session, key, desk.rita)
        assert before.channel == "email"
        assert "internal content reaches staff destinations only" in _sentences(before)
        reasons_before = list(before.reasons)
        await session.commit()

        assert (await _approve(client, approval_id, desk.ann_token)).status_code == 200
        await make_relay(db, smtp_url=url).drain()

        (after, _) = await _decisions(session, key, desk.rita)
        assert (after.outcome, after.reasons) == ("suppress", reasons_before)
        assert all(user_id != desk.rita.id for user_id, _ in await _deliveries(session, key))
        assert sink.messages  # staff did get the note ...
        assert all(desk.rita.email not in str(m["To"]) for m in sink.messages)  # ... she did not

    async def test_a_hold_row_for_internal_content_to_an_end_user_is_refused_at_release(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
        smtp: tuple[SmtpSink, str],
    ) -> None:
        # As a bug in the evaluator or a tampered row would leave it: the requester's
        # decision on the internal note says "hold". The release's egress check refuses it.
        sink, url = smtp
        desk = await _desk(session)
        key, approval_id = await self._internal_note_held(session, desk)
        await session.execute(
            update(PolicyDecision)
            .where(PolicyDecision.event_key == key)
            .where(PolicyDecision.recipient_user_id == desk.rita.id)
            .where(PolicyDecision.channel == "email")
            .values(outcome="hold", audience="requester", rule_id="hostile-note-to-requester")
        )
        # And one with no audience at all (no rule could have held it): refused as well.
        await session.execute(
            update(PolicyDecision)
            .where(PolicyDecision.event_key == key)
            .where(PolicyDecision.recipient_user_id == desk.rita.id)
            .where(PolicyDecision.channel == "in_app")
            .values(outcome="hold")
        )
        await session.commit()

        response = await _approve(client, approval_id, desk.ann_token)
        assert response.status_code == 200, response.text
        released = response.json()["audit"][-1]["reason"]
        assert f"not released: user:{desk.rita.id} via email (the egress guard refused it" in (
            released
        )
        assert released.startswith("released 1 of 3 held messages; ")
        email, in_app = await _decisions(session, key, desk.rita)
        assert (email.outcome, in_app.outcome) == ("suppress", "suppress")
        assert _sentences(email)[-1].startswith("the egress guard refused it: internal content")
        assert _sentences(in_app)[-1].endswith(
            "but not released: the decision names no audience to check the recipient against"
        )
        assert all(user_id != desk.rita.id for user_id, _ in await _deliveries(session, key))
        await make_relay(db, smtp_url=url).drain()
        assert sink.messages  # the staff it was held for got it
        assert all(desk.rita.email not in str(m["To"]) for m in sink.messages)

    async def test_a_follower_who_lost_sight_of_the_ticket_is_not_released(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
        smtp: tuple[SmtpSink, str],
    ) -> None:
        # Decided: someone who may no longer see the ticket when it is approved does not
        # get it (the decision becomes `suppress`, saying why); the others still do.
        sink, url = smtp
        desk = await _desk(session)
        desk.ticket.followable = True
        fay, _ = await create_user(session, name="Fay Follower")
        session.add(TicketFollow(ticket_id=desk.ticket.id, user_id=fay.id, source="manual"))
        await session.flush()
        event, approval_id = await _hold(session, desk)
        key = f"ticket_event:{event.id}"
        assert {r.outcome for r in await _decisions(session, key, fay)} == {"hold"}
        desk.ticket.followable = False  # a major incident no longer open to everyone
        await session.commit()

        response = await _approve(client, approval_id, desk.ann_token)
        assert response.status_code == 200, response.text
        assert response.json()["audit"][-1]["reason"].startswith("released 2 of 4 held messages")
        rows = await _decisions(session, key, fay)
        assert {r.outcome for r in rows} == {"suppress"}
        assert all(
            _sentences(r)[-1]
            == "the egress guard refused it: the recipient may not see this ticket"
            for r in rows
        )
        assert await _deliveries(session, key) == {
            (desk.rita.id, "email"),
            (desk.rita.id, "in_app"),
        }
        await make_relay(db, smtp_url=url).drain()
        assert [str(m["To"]) for m in sink.messages] == [f"Rita Requester <{desk.rita.email}>"]

    async def test_an_agent_demoted_before_approval_does_not_get_the_internal_note(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
    ) -> None:
        policy = policy_yaml(
            """
            - id: staff-notes-need-approval
              on: [ticket.commented]
              to: [agents]
              via: [email]
              require_approval: true
            """
        )
        desk = await _desk(session, policy)
        bo, _ = await create_user(session, role=Role.AGENT, name="Bo Agent")
        event, approval_id = await _hold(session, desk, body="pwd rotated", visibility="internal")
        key = f"ticket_event:{event.id}"
        bo.role = Role.END_USER  # left IT since
        await session.commit()

        response = await _approve(client, approval_id, desk.ann_token)
        assert response.status_code == 200, response.text
        (row, _) = await _decisions(session, key, bo)
        assert row.channel == "email"
        assert row.outcome == "suppress"
        assert _sentences(row)[-1].endswith(
            f"but not released: user:{bo.id} is no longer among the agents of this event"
        )
        deliveries = await _deliveries(session, key)
        assert (desk.ann.id, "email") in deliveries
        assert all(user_id != bo.id for user_id, _ in deliveries)


class TestLoadingOneEvent:
    async def test_events_are_loaded_by_key_from_the_domain_that_registered_the_prefix(
        self, session: AsyncSession
    ) -> None:
        desk = await _desk(session)
        row = await store_event(session, desk.ticket, body="hello")
        sourced = await load_event(session, f"ticket_event:{row.id}")
        assert sourced is not None
        assert (sourced.event.key, sourced.event.body) == (f"ticket_event:{row.id}", "hello")
        assert sourced.scope.ticket_id == desk.ticket.id
        assert await load_event(session, "ticket_event:999999999") is None
        assert await load_event(session, "ticket_event:x1") is None
        with pytest.raises(UnknownEventKind):
            await load_event(session, "nobody:1")

    def test_ids_in_keys(self) -> None:
        assert id_in_key("chat_message:12", "chat_message:") == 12
        assert id_in_key("chat_message:", "chat_message:") is None
        assert id_in_key("chat_message:1:2", "chat_message:") is None
        assert id_in_key("ticket_event:3", "chat_message:") is None
        assert id_in_key("chat_message:١٢", "chat_message:") is None  # non-ASCII digits
