"""External subscribers: double opt-in, one-click unsubscribe, refused links, webhooks."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.signing import Signer
from app.models import Delivery, Subscriber, SubscriberService
from app.status.subscribers.service import (
    CONFIRM_PURPOSE,
    confirmation_token,
    unsubscribe_token,
)
from tests.conftest import TEST_SECRET_KEY
from tests.status.conftest import Desk, add_service


async def _subscriber(session: AsyncSession, email: str) -> Subscriber:
    found = (
        await session.execute(select(Subscriber).where(Subscriber.email == email))
    ).scalar_one()
    await session.refresh(found)
    return found


async def _subscriptions(session: AsyncSession, subscriber: Subscriber) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(SubscriberService)
        .where(SubscriberService.subscriber_id == subscriber.id)
    )
    return int(count or 0)


class TestDoubleOptIn:
    async def test_subscribe_confirm_unsubscribe(
        self, client: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        await add_service(client, desk, "vpn", name="VPN")
        await add_service(client, desk, "email", name="Mail")
        response = await client.post(
            "/status/subscribe", json={"email": "Reader@Example.NET", "services": ["vpn", "email"]}
        )
        assert response.status_code == 202
        subscriber = await _subscriber(session, "reader@example.net")
        assert subscriber.confirmed_at is None
        assert await _subscriptions(session, subscriber) == 0
        outbound = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.recipient_key == f"status-subscriber:{subscriber.id}")
        )
        assert outbound == 1

        # The link of the confirmation mail (tests/status/test_status_mail.py reads it there).
        confirm_path = (
            f"/status/subscribe/confirm/{confirmation_token(TEST_SECRET_KEY, subscriber)}"
        )
        confirmed = await client.get(confirm_path)
        assert confirmed.status_code == 200
        assert "Mail" in confirmed.text
        assert "VPN" in confirmed.text
        assert await _subscriptions(session, subscriber) == 2

        leave = f"/status/unsubscribe/{unsubscribe_token(TEST_SECRET_KEY, subscriber)}"
        page = await client.get(leave)
        assert page.status_code == 200
        assert 'method="post"' in page.text
        assert await _subscriptions(session, subscriber) == 2  # a GET changes nothing
        done = await client.post(leave)
        assert done.status_code == 200
        assert await _subscriptions(session, subscriber) == 0
        assert (await _subscriber(session, "reader@example.net")).unsubscribed_at is not None
        assert (await client.post(leave)).status_code == 200  # idempotent
        # The confirmation link of an unsubscribed address is dead.
        assert (await client.get(confirm_path)).status_code == 400

    async def test_form_post_from_the_page(self, client: httpx.AsyncClient, desk: Desk) -> None:
        await add_service(client, desk, "vpn")
        response = await client.post(
            "/status/subscribe", data={"email": "form@example.net", "services": ["vpn"]}
        )
        assert response.status_code == 202
        assert "text/html" in response.headers["content-type"]
        bad = await client.post("/status/subscribe", data={"email": "nope", "services": ["vpn"]})
        assert bad.status_code == 422
        assert "text/html" in bad.headers["content-type"]

    async def test_unknown_and_non_public_services_look_alike(
        self, client: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        await add_service(client, desk, "erp", visibility="employees")
        hidden = await client.post(
            "/status/subscribe", json={"email": "a@example.net", "services": ["erp"]}
        )
        missing = await client.post(
            "/status/subscribe", json={"email": "a@example.net", "services": ["zzz"]}
        )
        assert hidden.status_code == missing.status_code == 422
        assert (
            hidden.json()["error"]["code"] == missing.json()["error"]["code"] == "unknown_service"
        )
        refused = (
            {"email": "a@example.net", "services": []},
            {"email": "x", "services": ["erp"]},
            {"email": "a@example.net", "services": ["erp"], "all": True},
        )
        for payload in refused:
            assert (await client.post("/status/subscribe", json=payload)).status_code == 422
        count = await session.scalar(select(func.count()).select_from(Subscriber))
        assert count == 0


class TestRefusedLinks:
    async def test_forged_expired_and_wrong_purpose(
        self, client: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        await add_service(client, desk, "vpn")
        await client.post("/status/subscribe", json={"email": "r@example.net", "services": ["vpn"]})
        subscriber = await _subscriber(session, "r@example.net")
        good = confirmation_token(TEST_SECRET_KEY, subscriber)
        body, _, signature = good.partition(".")
        forged = Signer("another-key-" + "y" * 32, CONFIRM_PURPOSE).sign(
            {"s": subscriber.id, "n": subscriber.token_nonce}, now=utcnow(), ttl=timedelta(days=1)
        )
        expired = Signer(TEST_SECRET_KEY, CONFIRM_PURPOSE).sign(
            {"s": subscriber.id, "n": subscriber.token_nonce},
            now=utcnow() - timedelta(days=8),
            ttl=timedelta(days=7),
        )
        wrong_nonce = Signer(TEST_SECRET_KEY, CONFIRM_PURPOSE).sign(
            {"s": subscriber.id, "n": "0" * 32}, now=utcnow(), ttl=timedelta(days=1)
        )
        unsubscribe_as_confirm = unsubscribe_token(TEST_SECRET_KEY, subscriber)
        for token in (forged, expired, wrong_nonce, unsubscribe_as_confirm, "garbage",
                      body + "." + signature[::-1], body[:-2] + "x." + signature):  # fmt: skip
            response = await client.get(f"/status/subscribe/confirm/{token}")
            assert response.status_code == 400, token
            assert "invalid or has expired" in response.text
        assert (await client.post(f"/status/unsubscribe/{good}")).status_code == 400
        assert await _subscriptions(session, subscriber) == 0
        assert (await client.get(f"/status/subscribe/confirm/{good}")).status_code == 200

    async def test_resubscribing_revokes_old_links(
        self, client: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        await add_service(client, desk, "vpn")
        await client.post("/status/subscribe", json={"email": "z@example.net", "services": ["vpn"]})
        subscriber = await _subscriber(session, "z@example.net")
        old_leave = unsubscribe_token(TEST_SECRET_KEY, subscriber)
        assert (await client.post(f"/status/unsubscribe/{old_leave}")).status_code == 200
        await client.post("/status/subscribe", json={"email": "z@example.net", "services": ["vpn"]})
        assert (await client.get(f"/status/unsubscribe/{old_leave}")).status_code == 400


class TestWebhooks:
    async def test_admin_registers_and_secret_is_never_returned(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "vpn")
        payload = {
            "url": "https://hooks.example.net/status",
            "secret": "s3cret-webhook-signing-key",
            "services": ["vpn"],
        }
        assert (
            await client.post("/api/v1/status/webhooks", json=payload, headers=desk.alex)
        ).status_code == 403
        created = await client.post("/api/v1/status/webhooks", json=payload, headers=desk.admin)
        assert created.status_code == 201
        assert created.json()["services"] == ["vpn"]
        listed = await client.get("/api/v1/status/webhooks", headers=desk.admin)
        assert "s3cret" not in listed.text
        assert "s3cret" not in created.text
        bad = await client.post(
            "/api/v1/status/webhooks", json={**payload, "services": ["nope"]}, headers=desk.admin
        )
        assert bad.status_code == 422
        gone = await client.delete(
            f"/api/v1/status/webhooks/{created.json()['id']}", headers=desk.admin
        )
        assert gone.status_code == 204
        assert (await client.get("/api/v1/status/webhooks", headers=desk.admin)).json() == []
