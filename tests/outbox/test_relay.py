"""The relay: leases, digests, dead letters and the admin's retry."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.clock import utcnow
from app.models import Delivery, DeliveryAttempt, InboxItem, Role
from app.outbox.relay import RelaySettings
from tests.factories import auth, create_ticket, create_user
from tests.notifications.receivers import HttpReceiver, SmtpSink
from tests.notifications.support import (
    WEBHOOK_SECRET,
    add_destination,
    decision,
    enqueue,
    inbox_of,
    later,
    make_relay,
    statuses,
    ticket_event,
)


class TestLeases:
    async def test_a_row_leased_by_a_crashed_worker_waits_for_its_lease_to_expire(
        self, db: async_sessionmaker[AsyncSession], session: AsyncSession
    ) -> None:
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}")], ticket)
        await session.execute(
            update(Delivery).values(
                lease_owner="gone:1", lease_expires_at=utcnow() + timedelta(seconds=60)
            )
        )
        await session.commit()

        assert await make_relay(db).drain() == 0
        assert await make_relay(db, clock=later(61)).drain() == 1
        assert len(await inbox_of(session, erin.id)) == 1

    async def test_two_relays_never_send_the_same_row(
        self, committed_db: async_sessionmaker[AsyncSession]
    ) -> None:
        async with committed_db() as session:
            erin, _ = await create_user(session)
            ticket = await create_ticket(session, requester=erin)
            for _ in range(60):
                event = ticket_event(ticket)
                await enqueue(session, event, [decision(event, f"user:{erin.id}")], ticket)
        settings = RelaySettings(batch_size=7)
        first = make_relay(committed_db, settings=settings)
        second = make_relay(committed_db, settings=settings)
        second.owner = "second"
        await asyncio.gather(first.drain(), second.drain())
        async with committed_db() as session:
            attempts = (await session.execute(select(DeliveryAttempt.delivery_id))).scalars().all()
            assert len(attempts) == len(set(attempts)) == 60
            assert len(await inbox_of(session, erin.id)) == 60


class TestDigests:
    async def test_a_digest_gathers_every_due_item_into_one_mail_per_channel(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        smtp_sink: tuple[SmtpSink, str],
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        sink, smtp_url = smtp_sink
        server, url = receiver
        erin, _ = await create_user(session)
        sam, _ = await create_user(session)
        first = await create_ticket(session, requester=erin, title="Mail is slow")
        second = await create_ticket(session, requester=erin, title="VPN drops")
        await add_destination(session, erin.id, "webhook", url, secret=WEBHOOK_SECRET)
        boundary = utcnow() + timedelta(hours=1)
        for n in range(5):
            ticket = first if n % 2 else second
            event = ticket_event(ticket, type="ticket.commented", body=f"Update number {n}")
            chosen = [
                decision(event, f"user:{erin.id}", channel, outcome="digest", deliver_at=boundary)
                for channel in ("email", "webhook")
            ]
            await enqueue(session, event, chosen, ticket)
        his = await create_ticket(session, requester=sam)
        other = ticket_event(his, type="ticket.commented", body="for Sam")
        sams = decision(other, f"user:{sam.id}", "email", outcome="digest", deliver_at=boundary)
        await enqueue(session, other, [sams], his)

        await make_relay(db, smtp_url=smtp_url, allow_private_destinations=True).drain()
        assert sink.messages == []
        assert server.requests == []
        await make_relay(
            db, smtp_url=smtp_url, clock=later(3601), allow_private_destinations=True
        ).drain()

        erins = [m for m in sink.messages if erin.email in str(m["To"])]
        (mail,) = erins
        assert mail["Subject"] == "Socialdesk digest: 5 updates"
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None
        text = str(body.get_content())
        assert all(f"Update number {n}" in text for n in range(5))
        assert f"[{first.external_id}]" in text
        assert f"[{second.external_id}]" in text
        assert len(server.requests) == 1  # one digest per channel
        assert len(sink.messages) == 2  # Sam's digest is his own
        counts = await statuses(session)
        assert counts == {"merged": 11, "sent": 3}


class TestDeadLetters:
    async def test_an_exhausted_delivery_is_dead_and_an_admin_can_retry_it(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        client: httpx.AsyncClient,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        server, url = receiver
        healthy = False
        server.status = lambda _request: 200 if healthy else 502
        erin, _ = await create_user(session)
        _, admin_token = await create_user(session, role=Role.ADMIN)
        _, agent_token = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session, requester=erin)
        await add_destination(session, erin.id, "webhook", url, secret=WEBHOOK_SECRET)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "webhook")], ticket)
        settings = RelaySettings(max_attempts=3, backoff_base=timedelta(seconds=1))
        for step in range(3):
            relay = make_relay(
                db, settings=settings, clock=later(step * 10), allow_private_destinations=True
            )
            await relay.drain()
        assert len(server.requests) == 3

        dead = await client.get("/api/v1/admin/deliveries?status=dead", headers=auth(admin_token))
        (row,) = dead.json()["items"]
        assert row["attempts"] == 3
        assert "HTTP 502" in row["last_error"]
        detail = await client.get(
            f"/api/v1/admin/deliveries/{row['id']}", headers=auth(admin_token)
        )
        assert [a["outcome"] for a in detail.json()["attempt_log"]] == ["failed"] * 3
        forbidden = await client.get("/api/v1/admin/deliveries", headers=auth(agent_token))
        assert forbidden.status_code == 403

        healthy = True
        retried = await client.post(
            f"/api/v1/admin/deliveries/{row['id']}/retry", headers=auth(admin_token)
        )
        assert retried.status_code == 200
        assert retried.json()["status"] == "pending"
        relay = make_relay(db, settings=settings, clock=later(60), allow_private_destinations=True)
        await relay.drain()
        assert await statuses(session) == {"sent": 1}
        again = await client.post(
            f"/api/v1/admin/deliveries/{row['id']}/retry", headers=auth(admin_token)
        )
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "not_dead"
        assert len({r.headers["webhook-id"] for r in server.requests}) == 1

    async def test_a_recipient_who_turned_email_off_is_skipped_not_mailed(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        client: httpx.AsyncClient,
        smtp_sink: tuple[SmtpSink, str],
    ) -> None:
        sink, url = smtp_sink
        erin, token = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "email")], ticket)
        off = await client.put("/api/v1/me/preferences", json={"email": False}, headers=auth(token))
        assert off.status_code == 200
        await make_relay(db, smtp_url=url).drain()
        assert sink.messages == []
        assert await statuses(session) == {"skipped": 1}
        assert (await session.execute(select(InboxItem))).first() is None


class TestPoisonRows:
    async def test_an_unreadable_row_is_a_dead_letter_and_its_batch_goes_out(
        self, db: async_sessionmaker[AsyncSession], session: AsyncSession
    ) -> None:
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        events = [ticket_event(ticket) for _ in range(3)]
        for event in events:
            await enqueue(session, event, [decision(event, f"user:{erin.id}")], ticket)
        broken = {"parts": [{"type": "ticket.commented"}]}  # no text, no time: a bug's output
        await session.execute(
            update(Delivery).where(Delivery.event_key == events[1].key).values(payload=broken)
        )
        await session.commit()

        await make_relay(db).drain()

        assert await statuses(session) == {"sent": 2, "dead": 1}
        dead = (
            await session.execute(select(Delivery).where(Delivery.status == "dead"))
        ).scalar_one()
        await session.refresh(dead)
        assert dead.last_error is not None
        assert "cannot be composed" in dead.last_error

    async def test_a_row_whose_workers_keep_dying_is_given_up(
        self, db: async_sessionmaker[AsyncSession], session: AsyncSession
    ) -> None:
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}")], ticket)
        # Ten claims that never settled: each worker died while holding it.
        await session.execute(update(Delivery).values(attempts=10))
        await session.commit()

        await make_relay(db, settings=RelaySettings(max_attempts=8)).drain()

        assert await statuses(session) == {"dead": 1}
        assert await inbox_of(session, erin.id) == []
