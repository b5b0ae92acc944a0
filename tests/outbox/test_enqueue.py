"""Decisions become outbox rows: idempotent, only what is to be sent, delayed ones collapse."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.clock import utcnow
from app.models import Delivery
from app.outbox.enqueue import enqueue_deliveries, parse_recipient_key
from app.policy.engine.document import load_default_policy
from app.policy.engine.evaluator import Recipient, evaluate
from tests.factories import create_ticket, create_user
from tests.notifications.receivers import SmtpSink
from tests.notifications.support import (
    decision,
    enqueue,
    inbox_of,
    later,
    make_relay,
    statuses,
    ticket_event,
)


async def _rows(session: AsyncSession) -> list[Delivery]:
    rows = list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())
    for row in rows:
        await session.refresh(row)
    return rows


class TestEnqueue:
    async def test_one_row_per_recipient_and_channel_with_the_idempotency_key(
        self, session: AsyncSession
    ) -> None:
        erin, _ = await create_user(session)
        sam, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        event = ticket_event(ticket)
        decided = [
            decision(event, f"user:{erin.id}", "in_app"),
            decision(event, f"user:{erin.id}", "email"),
            decision(event, f"user:{sam.id}", "in_app", outcome="hold"),
            decision(event, f"user:{sam.id}", "email", outcome="suppress"),
            decision(event, "agents", "ticket"),  # another domain's channel
        ]
        assert await enqueue(session, event, decided, ticket) == 2
        assert {r.idempotency_key for r in await _rows(session)} == {
            f"{event.key}:user:{erin.id}:in_app",
            f"{event.key}:user:{erin.id}:email",
        }
        assert await enqueue(session, event, decided, ticket) == 0  # a replay is a no-op

    async def test_a_ticket_event_needs_its_ticket_id(self, session: AsyncSession) -> None:
        ticket = await create_ticket(session)
        event = ticket_event(ticket)
        with pytest.raises(ValueError, match="ticket_id"):
            await enqueue_deliveries(session, event, [decision(event, "user:1")])

    def test_recipient_keys(self) -> None:
        assert parse_recipient_key("user:7") == (7, None)
        assert parse_recipient_key("user:7:dest:3") == (7, 3)
        assert parse_recipient_key("public") == (None, None)
        assert parse_recipient_key("user:x") == (None, None)

    async def test_the_stored_text_is_the_decided_variant_only(self, session: AsyncSession) -> None:
        erin, _ = await create_user(session)
        from app.policy.engine.evaluator import PolicyEvent

        event = PolicyEvent(
            key="status:9", type="status.update", visibility="public", occurred_at=utcnow(),
            body="db-7 failover in progress", public_body="Mail is slow", audience="employees",
        )  # fmt: skip
        await enqueue_deliveries(session, event, [decision(event, f"user:{erin.id}")])
        (row,) = await _rows(session)
        (part,) = row.payload["parts"]
        assert part["text"] == "Mail is slow"
        assert part["visibility"] == "employees"
        assert "db-7" not in str(row.payload)


class TestFlapping:
    async def _flap(
        self, session: AsyncSession, steps: list[tuple[str, str]]
    ) -> tuple[int, list[Delivery]]:
        """Status changes 20 s apart under the default policy (delay: 2m for requesters)."""
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin, priority="P3")
        start = utcnow()
        erin_recipient = Recipient(
            key=f"user:{erin.id}", role="end_user", audiences=frozenset({"requester"}),
            channels=frozenset({"in_app"}), may_see_ticket=True, user_id=erin.id,
        )  # fmt: skip
        for n, (old, new) in enumerate(steps):
            at = start + timedelta(seconds=20 * n)
            event = ticket_event(ticket, old=old, new=new, occurred_at=at)
            decisions = evaluate(load_default_policy(), event, [erin_recipient], at)
            assert [d.outcome for d in decisions] == ["delay"]
            await enqueue(session, event, decisions, ticket)
        return erin.id, await _rows(session)

    async def test_open_pending_open_sends_one_notification_with_the_final_state(
        self, db: async_sessionmaker[AsyncSession], session: AsyncSession
    ) -> None:
        user_id, rows = await self._flap(session, [("open", "pending"), ("pending", "open")])
        assert [r.status for r in rows] == ["superseded", "pending"]
        assert rows[0].superseded_by == rows[1].id
        # Due when the first change's window ends, not pushed back by the second.
        assert rows[1].deliver_at == rows[0].deliver_at

        assert await make_relay(db).drain() == 0  # nothing before the window ends
        await make_relay(db, clock=later(130)).drain()

        (item,) = await inbox_of(session, user_id)
        assert "Status is open again (briefly pending)" in item.title

    async def test_a_burst_that_ends_elsewhere_says_where_it_went(
        self, db: async_sessionmaker[AsyncSession], session: AsyncSession
    ) -> None:
        steps = [("open", "pending"), ("pending", "open"), ("open", "in_progress")]
        user_id, rows = await self._flap(session, steps)
        assert [r.status for r in rows] == ["superseded", "superseded", "pending"]
        await make_relay(db, clock=later(130)).drain()
        (item,) = await inbox_of(session, user_id)
        assert "Status changed from open to in_progress (via pending)" in item.title

    async def test_comments_in_a_burst_accumulate_into_one_mail(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        smtp_sink: tuple[SmtpSink, str],
    ) -> None:
        sink, url = smtp_sink
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        due = utcnow() + timedelta(minutes=5)
        for text in ("First reply", "Second reply", "Third reply"):
            event = ticket_event(ticket, type="ticket.commented", body=text)
            chosen = decision(event, f"user:{erin.id}", "email", outcome="delay", deliver_at=due)
            await enqueue(session, event, [chosen], ticket)
        await make_relay(db, smtp_url=url, clock=later(301)).drain()

        (mail,) = sink.messages
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None
        text = str(body.get_content())
        assert text.index("First reply") < text.index("Second reply") < text.index("Third reply")
        assert await statuses(session) == {"superseded": 2, "sent": 1}


class TestQuietHours:
    async def test_mail_waits_for_the_end_of_quiet_hours_and_is_then_sent(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        smtp_sink: tuple[SmtpSink, str],
    ) -> None:
        from app.policy.engine.schedule import Preferences, QuietHours

        sink, url = smtp_sink
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        now = utcnow()
        # Quiet from one hour ago to one hour from now, in UTC.
        start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
        end = (now + timedelta(hours=1)).time().replace(second=0, microsecond=0)
        quiet = Preferences(timezone="UTC", quiet_hours=QuietHours(start, end))
        erin_recipient = Recipient(
            key=f"user:{erin.id}", role="end_user", audiences=frozenset({"requester"}),
            channels=frozenset({"email", "in_app"}), may_see_ticket=True, user_id=erin.id,
            preferences=quiet,
        )  # fmt: skip
        event = ticket_event(ticket, type="ticket.resolved")
        decisions = evaluate(load_default_policy(), event, [erin_recipient], now)
        email = next(d for d in decisions if d.channel == "email")
        assert email.outcome == "delay"
        assert email.deliver_at is not None
        await enqueue(session, event, decisions, ticket)

        await make_relay(db, smtp_url=url).drain()
        assert sink.messages == []  # deferred, not dropped ...
        assert len(await inbox_of(session, erin.id)) == 1  # ... and the inbox is silent anyway
        await make_relay(db, smtp_url=url, clock=later(2 * 3600)).drain()
        assert len(sink.messages) == 1
