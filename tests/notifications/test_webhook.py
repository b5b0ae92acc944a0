"""Webhooks to a real local HTTP receiver: Standard Webhooks signatures, retries, disabling."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.clock import utcnow
from app.models import Delivery, DeliveryAttempt, NotificationDestination
from app.outbox.relay import RelaySettings
from tests.factories import auth, create_ticket, create_user
from tests.notifications.receivers import HttpReceiver, verify_standard_webhook
from tests.notifications.support import (
    WEBHOOK_SECRET,
    add_destination,
    decision,
    enqueue,
    later,
    make_relay,
    statuses,
    ticket_event,
)


class TestSignedDelivery:
    async def test_the_receiver_verifies_the_signature_and_reads_the_json(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        server, url = receiver
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin, title="Laptop will not boot")
        dest = await add_destination(
            session, erin.id, "webhook", f"{url}/hooks/desk", secret=WEBHOOK_SECRET
        )
        event = ticket_event(ticket, old="open", new="resolved")
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "webhook")], ticket)

        await make_relay(db, allow_private_destinations=True).drain()

        (request,) = server.requests
        assert request.method == "POST"
        assert request.path == "/hooks/desk"
        assert verify_standard_webhook(WEBHOOK_SECRET, request)
        assert request.headers["webhook-id"] == f"{event.key}:user:{erin.id}:dest:{dest.id}:webhook"
        body = json.loads(request.body)
        assert body["ticket_id"] == ticket.id
        assert "Status changed from open to resolved" in body["subject"]
        assert body["sections"][0]["event_type"] == "ticket.status_changed"
        assert not verify_standard_webhook("whsec_" + "b3RoZXI=", request)  # a wrong key fails

    async def test_a_plain_secret_signs_with_its_own_bytes(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        server, url = receiver
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        secret = "a plain shared secret of some length"
        await add_destination(session, erin.id, "webhook", url, secret=secret)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "webhook")], ticket)
        await make_relay(db, allow_private_destinations=True).drain()
        assert verify_standard_webhook(secret, server.requests[0])


class TestFailures:
    async def test_failures_back_off_exponentially_then_succeed_once(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        server, url = receiver
        answers = iter([503, 500, 200])
        server.status = lambda _request: next(answers)
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        await add_destination(session, erin.id, "webhook", url, secret=WEBHOOK_SECRET)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "webhook")], ticket)
        settings = RelaySettings(backoff_base=timedelta(seconds=30))

        first_pass = utcnow()
        await make_relay(
            db, settings=settings, clock=lambda: first_pass, allow_private_destinations=True
        ).drain()
        first_retry = (await session.execute(select(Delivery))).scalar_one().deliver_at
        second_pass = utcnow() + timedelta(seconds=31)
        await make_relay(
            db, settings=settings, clock=lambda: second_pass, allow_private_destinations=True
        ).drain()
        second = (await session.execute(select(Delivery))).scalar_one()
        await session.refresh(second)
        # 30 s, then 60 s, each less up to a quarter of jitter
        first_delay = (first_retry - first_pass).total_seconds()
        second_delay = (second.deliver_at - second_pass).total_seconds()
        assert 22.5 <= first_delay <= 30
        assert 45 <= second_delay <= 60
        await make_relay(
            db, settings=settings, clock=later(200), allow_private_destinations=True
        ).drain()

        assert len(server.requests) == 3
        assert len({r.headers["webhook-id"] for r in server.requests}) == 1  # one id: dedupable
        attempts = (await session.execute(select(DeliveryAttempt.outcome))).scalars().all()
        assert list(attempts) == ["failed", "failed", "sent"]
        assert await statuses(session) == {"sent": 1}

    async def test_repeated_failures_disable_the_webhook_and_tell_its_owner(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        client: httpx.AsyncClient,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        server, url = receiver
        server.status = lambda _request: 500
        erin, token = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        await add_destination(session, erin.id, "webhook", url, secret=WEBHOOK_SECRET)
        for _ in range(3):
            event = ticket_event(ticket)
            await enqueue(session, event, [decision(event, f"user:{erin.id}", "webhook")], ticket)
        settings = RelaySettings(disable_after=3, max_attempts=10)

        await make_relay(db, settings=settings, allow_private_destinations=True).drain()

        dest = (await session.execute(select(NotificationDestination))).scalar_one()
        await session.refresh(dest)
        assert not dest.enabled
        prefs = (await client.get("/api/v1/me/preferences", headers=auth(token))).json()
        assert prefs["webhook"]["enabled"] is False
        assert "3 failed deliveries in a row" in prefs["webhook"]["disabled_reason"]
        assert "HTTP 500" in prefs["webhook"]["disabled_reason"]
        # What was waiting for it is kept as dead letters, visible to admins, not dropped.
        await make_relay(
            db, settings=settings, clock=later(3600), allow_private_destinations=True
        ).drain()
        assert await statuses(session) == {"dead": 3}
        assert len(server.requests) == 3

    async def test_gone_is_final(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        server, url = receiver
        server.status = lambda _request: 410
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        await add_destination(session, erin.id, "webhook", url, secret=WEBHOOK_SECRET)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "webhook")], ticket)
        await make_relay(db, allow_private_destinations=True).drain()
        assert await statuses(session) == {"dead": 1}
