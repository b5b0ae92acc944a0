"""Status webhooks end to end: published updates reach a real HTTP receiver, signed, through
the outbox relay; a public webhook never sees staff or employee text, a draft or a held
update; failures are retried then dead-lettered; one POST per (webhook, update)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.secrets import SecretBox
from app.models import Delivery, DeliveryAttempt, Role, StatusUpdate
from app.notifications.channels.status_webhook import StatusWebhookChannel
from app.notifications.content import OutboundMessage, Section, Target
from app.outbox.enqueue import Addressed, enqueue_addressed
from app.outbox.relay import Relay, RelaySettings
from app.outbox.worker import build_relay
from app.policy.guard.egress import InternalContentLeak
from app.realtime.bus import MemoryBus
from app.status.events import on_status_update_published
from app.status.publishing import do_approve_update
from app.status.schemas import IncidentCreate, ServiceCreate, WebhookCreate
from app.status.service import do_create_incident, do_create_service
from app.status.subscribers.service import do_add_webhook
from app.status.webhooks.enqueue import delivery_key
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_user
from tests.notifications.receivers import HttpReceiver, Request
from tests.status.conftest import Desk, add_service, approve, open_incident, post_update

pytest_plugins = ["tests.notifications.support"]

BASE_URL = "http://testserver"
SECRET = "s3cret-status-webhook-key"
INTERNAL_MARK = "SECRET-INTERNAL"
EMPLOYEE_MARK = "EMPLOYEES-ONLY-7731"


def later(seconds: float) -> Callable[[], datetime]:
    return lambda: utcnow() + timedelta(seconds=seconds)


def verify(secret: str, request: Request) -> bool:
    """The receiver's check, written from the documentation: HMAC-SHA256 of the raw body."""
    given = request.headers["x-socialdesk-signature"]
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given, expected)


def relay_for(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    relay_settings: RelaySettings | None = None,
) -> Relay:
    return build_relay(
        settings.model_copy(update={"base_url": BASE_URL}),
        sessionmaker,
        MemoryBus(),
        SecretBox(TEST_SECRET_KEY),
        http,
        relay_settings=relay_settings,
    )


async def add_webhook(
    client: httpx.AsyncClient,
    desk: Desk,
    url: str,
    services: list[str],
    *,
    audience: str = "public",
    secret: str = SECRET,
) -> int:
    response = await client.post(
        "/api/v1/status/webhooks",
        json={"url": url, "secret": secret, "services": services, "audience": audience},
        headers=desk.admin,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def bodies(server: HttpReceiver, path: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in server.requests if r.path == path]


async def test_non_http_urls_are_refused_with_the_error_shape(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    await add_service(client, desk, "vpn")
    for url in ("ftp://hooks.example.net/x", "file:///etc/passwd", "javascript:alert(1)", "x"):
        response = await client.post(
            "/api/v1/status/webhooks",
            json={"url": url, "secret": SECRET, "services": ["vpn"]},
            headers=desk.admin,
        )
        assert response.status_code == 422, url
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["message"] == "invalid input: url"
        [detail] = error["details"]
        assert detail["field"] == "url"
        assert detail["message"] == "a webhook URL must be an http:// or https:// URL"
    assert (await client.get("/api/v1/status/webhooks", headers=desk.admin)).json() == []


async def test_each_webhook_gets_what_its_audience_may_read_and_nothing_else(
    client: httpx.AsyncClient,
    desk: Desk,
    db: async_sessionmaker[AsyncSession],
    settings: Settings,
    receiver: tuple[HttpReceiver, str],
) -> None:
    server, url = receiver
    await add_service(client, desk, "vpn")  # public
    await add_service(client, desk, "vpn-core", visibility="internal")
    await add_service(client, desk, "mail")  # public, not affected
    public = await add_webhook(client, desk, f"{url}/public", ["vpn"])
    employees = await add_webhook(client, desk, f"{url}/employees", ["vpn"], audience="employees")
    staff = await add_webhook(client, desk, f"{url}/staff", ["vpn-core"], audience="internal")
    # Public, but subscribed only to a service the public cannot see: gets nothing.
    await add_webhook(client, desk, f"{url}/public-core", ["vpn-core"])
    await add_webhook(client, desk, f"{url}/mail", ["mail"])  # another service: nothing

    incident = await open_incident(
        client, desk, ["vpn", "vpn-core"],
        title=f"{INTERNAL_MARK}: vpn-gw-02 crashed", public_title="VPN outage",
        audience="internal", body=f"{INTERNAL_MARK} vpn-gw-02 (10.0.0.2) kernel panic",
    )  # fmt: skip
    incident_id = incident["id"]
    employee_update = await post_update(
        client, desk, incident_id, audience="employees", status="identified",
        body=f"staff view: {INTERNAL_MARK} gateway firmware",
        public_body=f"{EMPLOYEE_MARK}: use the backup VPN profile meanwhile.",
    )  # fmt: skip
    assert employee_update.json()["state"] == "published"
    draft = await post_update(
        client, desk, incident_id, body=f"{INTERNAL_MARK} staff notes on the fix",
        public_body="The VPN is down; we are restoring it.",
    )  # fmt: skip
    held = await post_update(
        client, desk, incident_id, body="staff",
        public_body="Gateway vpn-gw-02.corp.example.com is being replaced.",
    )  # fmt: skip
    rejected = await post_update(client, desk, incident_id, body="x", public_body="Never out.")
    assert (draft.json()["state"], held.json()["state"]) == ("pending", "held")
    reason = {"reason": "not this wording"}
    rejecting = await client.post(
        f"/api/v1/status/updates/{rejected.json()['id']}/reject", json=reason, headers=desk.bo
    )
    assert rejecting.status_code == 200

    async with httpx.AsyncClient(timeout=5) as http:
        relay = relay_for(settings, db, http)
        await relay.drain()
        assert bodies(server, "/public") == []  # drafts, held and rejected updates: nothing
        assert (await approve(client, desk, draft.json()["id"])).status_code == 200
        await relay.drain()
        await relay.drain()

    paths = sorted(r.path for r in server.requests)
    assert paths == ["/employees", "/employees", "/public", "/staff", "/staff", "/staff"]
    assert all(verify(SECRET, r) for r in server.requests)
    assert not verify("another-secret-of-some-length", server.requests[0])

    [sent] = [r for r in server.requests if r.path == "/public"]
    raw = sent.body.decode()
    for secret in (INTERNAL_MARK, EMPLOYEE_MARK, "vpn-gw-02", "10.0.0.2", "staff", "Never out"):
        assert secret not in raw, secret
    body = json.loads(raw)
    approved_id = draft.json()["id"]
    assert body["update"] == {
        "id": approved_id,
        "state": "identified",  # a status-less update keeps the incident's
        "state_label": "Identified",
        "previous_state": "identified",
        "body": "The VPN is down; we are restoring it.",
        "created_at": body["update"]["created_at"],
        "published_at": body["update"]["published_at"],
    }
    assert body["incident"]["id"] == incident_id
    assert body["incident"]["title"] == "VPN outage"
    assert body["incident"]["state"] == "identified"
    assert body["incident"]["impact"] == "major_outage"
    assert body["incident"]["url"] == f"{BASE_URL}/status#incident-{incident_id}"
    assert body["services"] == [{"slug": "vpn", "name": "VPN", "impact": "major_outage"}]
    assert body["page"] == {"url": f"{BASE_URL}/status"}
    assert body["meta"]["event"] == "status.update"
    assert body["meta"]["delivery_id"] == delivery_key(public, approved_id)
    assert sent.headers["x-socialdesk-delivery"] == delivery_key(public, approved_id)
    assert sent.headers["x-socialdesk-timestamp"] == str(body["meta"]["timestamp"])
    assert sent.headers["x-socialdesk-event"] == "status.update"

    employee_texts = [b["update"]["body"] for b in bodies(server, "/employees")]
    assert employee_texts == [
        f"{EMPLOYEE_MARK}: use the backup VPN profile meanwhile.",
        "The VPN is down; we are restoring it.",
    ]
    for request in server.requests:
        if request.path == "/employees":
            assert INTERNAL_MARK not in request.body.decode()
    assert [b["meta"]["webhook_id"] for b in bodies(server, "/employees")] == [employees] * 2
    staff_bodies = bodies(server, "/staff")
    assert staff_bodies[0]["update"]["body"].startswith(INTERNAL_MARK)  # staff-only: allowed
    assert staff_bodies[0]["incident"]["title"].startswith(INTERNAL_MARK)
    assert {s["slug"] for s in staff_bodies[0]["services"]} == {"vpn", "vpn-core"}
    assert all(b["meta"]["webhook_id"] == staff for b in staff_bodies)


async def test_a_failing_receiver_is_retried_then_dead_lettered_and_retried_by_the_admin(
    client: httpx.AsyncClient,
    desk: Desk,
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    settings: Settings,
    receiver: tuple[HttpReceiver, str],
) -> None:
    server, url = receiver
    server.status = lambda _request: 500
    await add_service(client, desk, "vpn")
    webhook = await add_webhook(client, desk, f"{url}/hook", ["vpn"])
    incident = await open_incident(client, desk, ["vpn"], public_body="VPN is slow.")
    update_id = incident["updates"][0]["id"]
    assert (await approve(client, desk, update_id)).status_code == 200

    tries = RelaySettings(max_attempts=3, backoff_base=timedelta(seconds=1))
    async with httpx.AsyncClient(timeout=5) as http:
        for step in range(5):
            await relay_for(settings, db, http, tries).drain()
            relay = relay_for(settings, db, http, tries)
            relay.clock = later(60 * (step + 1))  # past each backoff
            await relay.drain()
        assert len(server.requests) == 3  # max_attempts, then it stops
        key = delivery_key(webhook, update_id)
        assert {r.headers["x-socialdesk-delivery"] for r in server.requests} == {key}
        row = await session.scalar(select(Delivery).where(Delivery.idempotency_key == key))
        assert row is not None
        await session.refresh(row)
        assert (row.status, row.channel, row.attempts) == ("dead", "status_webhook", 3)
        assert row.last_error == "HTTP 500 from the status webhook"
        attempts = await session.scalars(
            select(DeliveryAttempt.outcome).where(DeliveryAttempt.delivery_id == row.id)
        )
        assert list(attempts) == ["failed"] * 3

        dead = await client.get("/api/v1/admin/deliveries?status=dead", headers=desk.admin)
        letters = [d["id"] for d in dead.json()["items"] if d["channel"] == "status_webhook"]
        assert letters == [row.id]  # (e-mails to staff die too: no SMTP in this test)
        server.status = lambda _request: 204
        retried = await client.post(f"/api/v1/admin/deliveries/{row.id}/retry", headers=desk.admin)
        assert retried.status_code == 200, retried.text
        await relay_for(settings, db, http, tries).drain()
        await relay_for(settings, db, http, tries).drain()
    assert len(server.requests) == 4
    assert all(verify(SECRET, r) for r in server.requests)
    await session.refresh(row)
    assert row.status == "sent"


async def test_a_webhook_removed_before_sending_gets_nothing(
    client: httpx.AsyncClient,
    desk: Desk,
    db: async_sessionmaker[AsyncSession],
    settings: Settings,
    receiver: tuple[HttpReceiver, str],
) -> None:
    server, url = receiver
    await add_service(client, desk, "vpn")
    webhook = await add_webhook(client, desk, url, ["vpn"], audience="employees")
    await open_incident(client, desk, ["vpn"], audience="employees", public_body="Slow VPN.")
    gone = await client.delete(f"/api/v1/status/webhooks/{webhook}", headers=desk.admin)
    assert gone.status_code == 204
    async with httpx.AsyncClient(timeout=5) as http:
        await relay_for(settings, db, http).drain()
    assert server.requests == []
    skipped = await client.get("/api/v1/admin/deliveries?status=skipped", headers=desk.admin)
    assert [d["recipient_key"] for d in skipped.json()["items"]] == [f"status-webhook:{webhook}"]


async def test_replays_and_two_relays_post_once_per_webhook_and_update(
    committed_db: async_sessionmaker[AsyncSession],
    settings: Settings,
    receiver: tuple[HttpReceiver, str],
) -> None:
    server, url = receiver
    server.delay = 0.05  # a slow receiver widens the window for a double send
    box = SecretBox(TEST_SECRET_KEY)
    async with unit_of_work(committed_db) as session:
        admin, _ = await create_user(session, role=Role.ADMIN)
        author, _ = await create_user(session, role=Role.AGENT)
        approver, _ = await create_user(session, role=Role.AGENT)
        for slug in ("vpn", "wifi"):
            await do_create_service(
                session, data=ServiceCreate(slug=slug, name=slug.upper(), visibility="public")
            )
        hooks = [
            await do_add_webhook(
                session,
                data=WebhookCreate.model_validate(
                    {"url": f"{url}/{n}", "secret": SECRET, "services": ["vpn", "wifi"]}
                ),
                box=box,
                user=admin,
            )
            for n in range(3)
        ]
        incident = await do_create_incident(
            session,
            data=IncidentCreate.model_validate(
                {
                    "title": "Network down",
                    "services": [{"service": "vpn"}, {"service": "wifi"}],
                    "update": {
                        "body": "staff",
                        "public_body": "Network is down.",
                        "audience": "public",
                    },
                }
            ),
            author=author,
        )
        update = await session.scalar(
            select(StatusUpdate).where(StatusUpdate.incident_id == incident.id)
        )
        assert update is not None
        await do_approve_update(session, update_id=update.id, approver=approver, reason=None)
    async with unit_of_work(committed_db) as session:  # a replay of the publication
        replayed = await session.get(StatusUpdate, update.id)
        assert replayed is not None
        await on_status_update_published(session, replayed)

    async with httpx.AsyncClient(timeout=5) as http:
        first, second = (
            relay_for(settings, committed_db, http),
            relay_for(settings, committed_db, http),
        )
        first.owner, second.owner = "worker-a", "worker-b"
        await asyncio.gather(first.drain(), second.drain())
        await asyncio.gather(first.drain(), second.drain())

    assert sorted(r.path for r in server.requests) == ["/0", "/1", "/2"]
    assert sorted(r.headers["x-socialdesk-delivery"] for r in server.requests) == sorted(
        delivery_key(h.id, update.id) for h in hooks
    )
    async with committed_db() as session:
        rows = (
            await session.scalars(select(Delivery).where(Delivery.channel == "status_webhook"))
        ).all()
        assert [r.status for r in rows] == ["sent"] * 3


async def test_a_forged_row_for_a_public_webhook_is_refused_at_send_time(
    client: httpx.AsyncClient,
    desk: Desk,
    db: async_sessionmaker[AsyncSession],
    settings: Settings,
    receiver: tuple[HttpReceiver, str],
) -> None:
    """Rows a bug (or an attacker with the database) points at content the webhook may
    not read are refused by the release at send time: dead, nothing posted."""
    server, url = receiver
    await add_service(client, desk, "vpn")
    public = await add_webhook(client, desk, url, ["vpn"])
    incident = await open_incident(
        client, desk, ["vpn"], audience="internal", body=f"{INTERNAL_MARK} root cause"
    )
    internal_id = incident["updates"][0]["id"]
    employees = await post_update(
        client, desk, incident["id"], audience="employees", body="x", public_body=EMPLOYEE_MARK
    )
    draft = await post_update(client, desk, incident["id"], body="x", public_body="Draft text.")
    forged = [internal_id, employees.json()["id"], draft.json()["id"]]
    async with unit_of_work(db) as session:
        await enqueue_addressed(
            session,
            [
                Addressed(
                    f"status.update:{update_id}",
                    f"status-webhook:{public}",
                    "status_webhook",
                    {"webhook_id": public, "update_id": update_id},
                )
                for update_id in forged
            ],
        )
    async with httpx.AsyncClient(timeout=5) as http:
        await relay_for(settings, db, http).drain()
    assert server.requests == []
    async with db() as session:
        rows = (
            await session.scalars(
                select(Delivery).where(Delivery.channel == "status_webhook").order_by(Delivery.id)
            )
        ).all()
        assert [r.status for r in rows] == ["dead"] * 3
        outcomes = await session.scalars(
            select(DeliveryAttempt.outcome).where(
                DeliveryAttempt.delivery_id.in_([r.id for r in rows])
            )
        )
        assert list(outcomes) == ["refused"] * 3
        assert all("egress refused" in (r.last_error or "") for r in rows)


async def test_the_channel_refuses_a_lying_message_at_its_own_door(
    receiver: tuple[HttpReceiver, str],
) -> None:
    """Called directly, bypassing the composer: internal text for a public webhook."""
    server, url = receiver
    section = Section(
        event_type="status.update", heading="x", text=INTERNAL_MARK,
        occurred_at=utcnow(), visibility="internal", audience="public", may_see_ticket=True,
    )  # fmt: skip
    message = OutboundMessage(
        delivery_id=1, idempotency_key="k", channel="status_webhook", user_id=None,
        recipient_role="public", recipient_name="status webhook 1", recipient_email="",
        destination_internal=True, subject="x", sections=(section,),
        target=Target(1, url, SECRET, True), document={"update": {"body": INTERNAL_MARK}},
    )  # fmt: skip
    async with httpx.AsyncClient(timeout=5) as http:
        channel = StatusWebhookChannel(http)
        with pytest.raises(InternalContentLeak):
            await channel.send(message)
        (outcome,) = await channel.send_many([message])
    assert isinstance(outcome, InternalContentLeak)
    assert server.requests == []
