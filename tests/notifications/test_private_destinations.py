"""People's own webhooks and Apprise URLs never reach the server's own network (SSRF).

Refused when saved (IP literals in any spelling, `localhost`; no DNS) and again when
sent (the name resolved), unless `Settings.allow_private_destinations` is on. The
receivers are real servers on 127.0.0.1: what a private address would reach.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.kit.secrets import SecretBox
from app.main import create_app
from app.models import Delivery, DeliveryAttempt, NotificationDestination
from app.outbox.worker import build_relay
from app.realtime.bus import MemoryBus
from tests.conftest import TEST_SECRET_KEY, make_runtime
from tests.factories import auth, create_ticket, create_user
from tests.notifications.receivers import HttpReceiver, SmtpSink
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

SECRET = "s" * 24


async def _put(client: httpx.AsyncClient, token: str, body: Mapping[str, object]) -> httpx.Response:
    return await client.put("/api/v1/me/preferences", json=body, headers=auth(token))


@pytest.fixture
async def permissive_client(
    settings: Settings, db: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """The API of a deployment that set SOCIALDESK_ALLOW_PRIVATE_DESTINATIONS=true."""
    runtime = make_runtime(settings.model_copy(update={"allow_private_destinations": True}), db)
    app = create_app(runtime.settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await runtime.http.aclose()


class TestWhenSaved:
    async def test_a_webhook_to_the_loopback_receiver_is_refused_in_the_error_shape(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        _, url = receiver
        _, token = await create_user(session)
        await session.commit()

        answer = await _put(client, token, {"webhook": {"url": f"{url}/hook", "secret": SECRET}})

        assert answer.status_code == 422
        error = answer.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["message"].startswith("webhook.url: 127.0.0.1 is a loopback address")
        (detail,) = error["details"]
        assert detail["field"] == "webhook.url"
        assert detail["type"] == "private_destination"
        assert "notifications go only to public hosts" in detail["message"]
        stored = await client.get("/api/v1/me/preferences", headers=auth(token))
        assert stored.json()["webhook"] is None
        assert (await session.execute(select(NotificationDestination))).first() is None

    @pytest.mark.parametrize(
        ("url", "says"),
        [
            ("http://169.254.169.254/latest/meta-data/", "link-local"),
            ("http://[::ffff:127.0.0.1]/hook", "loopback"),
            ("http://[::ffff:169.254.169.254]/", "link-local"),
            ("http://10.0.0.1/hook", "private-network"),
            ("https://192.168.0.10/hook", "private-network"),
            ("http://100.64.0.1/hook", "not a public address"),
            ("http://[::1]:8080/hook", "loopback"),
            ("http://[fd00::1]/hook", "private-network"),
            ("http://0.0.0.0:9000/", "unspecified"),
            ("http://localhost:9000/hook", "this machine"),
            ("http://LocalHost./hook", "this machine"),
            ("http://metadata.localhost/", "this machine"),
            ("http://2130706433/hook", "2130706433 (127.0.0.1) is a loopback"),
            ("http://0x7f.0.0.1/hook", "0x7f.0.0.1 (127.0.0.1) is a loopback"),
            ("http://127.1/hook", "(127.0.0.1) is a loopback"),
            ("http://127\u30020\u30020\u30021/hook", "127.0.0.1 is a loopback"),  # 。 dots
            ("http://example.com\\@127.0.0.1/hook", "127.0.0.1 is a loopback"),  # as httpx reads
            ("http://0177.0.0.1/hook", "not a usable URL"),  # httpx refuses the octal form
        ],
    )
    async def test_private_webhook_hosts_are_refused_in_any_spelling(
        self, client: httpx.AsyncClient, session: AsyncSession, url: str, says: str
    ) -> None:
        _, token = await create_user(session)
        await session.commit()
        answer = await _put(client, token, {"webhook": {"url": url, "secret": SECRET}})
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["details"][0]["field"] == "webhook.url"
        assert says in error["message"]

    @pytest.mark.parametrize(
        ("url", "says"),
        [
            ("json://127.0.0.1:9/x", "loopback"),
            ("jsons://[::ffff:127.0.0.1]/x", "loopback"),
            ("xml://10.0.0.1/x", "private-network"),
            ("xmls://169.254.169.254/x", "link-local"),
            ("form://localhost/x", "this machine"),
            ("forms://2130706433/x", "loopback"),
            ("gotify://192.168.1.2/AbCdEfGhIjKlMnO", "private-network"),
            ("ntfys://10.1.2.3/alerts", "private-network"),
            ("mailto://user:pass@example.com?smtp=127.0.0.1", "loopback"),  # its SMTP server
        ],
    )
    async def test_apprise_urls_that_name_a_private_host_are_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, url: str, says: str
    ) -> None:
        _, token = await create_user(session)
        await session.commit()
        body = {"apprise": [{"url": "slack://TokenA/TokenB/TokenC/#it"}, {"url": url}]}
        answer = await _put(client, token, body)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["details"] == [
            {"field": "apprise.1.url", "message": error["details"][0]["message"],
             "type": "private_destination"}
        ]  # fmt: skip
        assert says in error["message"]

    async def test_public_hosts_and_vendor_services_are_accepted(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await create_user(session)
        await session.commit()
        body = {
            "webhook": {"url": "http://93.184.216.34/hooks/desk", "secret": SECRET},
            "apprise": [
                {"url": "json://93.184.216.34/chat"},
                {"url": "slack://TokenA/TokenB/TokenC/#it"},  # goes to Slack's own host
                {"url": "ntfy://desk-alerts"},  # ntfy.sh
                {"url": "mailto://user:pass@gmail.com"},  # smtp.gmail.com
            ],
        }
        answer = await _put(client, token, body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["webhook"]["url"] == "http://93.184.216.34/..."
        assert len(answer.json()["apprise"]) == 4
        # Names are not resolved when saved (this machine has no DNS for them).
        hook = {"url": "https://hooks.example.org/desk", "secret": SECRET}
        assert (await _put(client, token, {"webhook": hook})).status_code == 200

    async def test_with_the_setting_on_a_loopback_webhook_is_saved(
        self,
        permissive_client: httpx.AsyncClient,
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        _, url = receiver
        _, token = await create_user(session)
        await session.commit()
        body = {
            "webhook": {"url": f"{url}/hook", "secret": SECRET},
            "apprise": [{"url": f"json://{url.removeprefix('http://')}/x"}],
        }
        answer = await _put(permissive_client, token, body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["webhook"]["url"].startswith("http://127.0.0.1:")


async def _attempts(session: AsyncSession) -> list[tuple[str, str | None]]:
    rows = await session.execute(select(DeliveryAttempt.outcome, DeliveryAttempt.detail))
    return [(outcome, detail) for outcome, detail in rows.all()]


async def _dead_row(session: AsyncSession) -> Delivery:
    row = (await session.execute(select(Delivery))).scalar_one()
    await session.refresh(row)
    assert row.status == "dead"
    return row


class TestWhenSent:
    @pytest.mark.parametrize(
        ("host", "says"),
        [
            ("127.0.0.1", "127.0.0.1 is a loopback address"),
            ("localhost", "localhost is this machine"),
            ("2130706433", "2130706433 (127.0.0.1) is a loopback address"),
        ],
    )
    async def test_a_webhook_stored_earlier_is_refused_and_recorded_dead(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
        host: str,
        says: str,
    ) -> None:
        server, url = receiver
        port = url.rsplit(":", 1)[1]
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        # Stored before the check existed (or by any path that skipped it).
        await add_destination(
            session, erin.id, "webhook", f"http://{host}:{port}/hook", secret=WEBHOOK_SECRET
        )
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "webhook")], ticket)

        await make_relay(db).drain()
        await make_relay(db, clock=later(7200)).drain()  # final: nothing is retried

        assert server.requests == []
        row = await _dead_row(session)
        assert row.last_error == (
            f"webhook: refused, {says}; notifications go only to public hosts"
        )
        assert await _attempts(session) == [("failed", row.last_error)]

    async def test_a_name_that_resolves_to_this_machine_is_refused_when_sent(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        """A name that passes the save-time check: only resolving it shows where it goes."""
        server, url = receiver
        name = socket.gethostname()
        try:
            found = {info[4][0] for info in socket.getaddrinfo(name, None)}
        except OSError:
            pytest.skip(f"this machine's name {name!r} does not resolve here")
        if "127.0.0.1" not in found:
            pytest.skip(f"{name!r} does not resolve to the receiver's 127.0.0.1 here")
        port = url.rsplit(":", 1)[1]
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        hook = f"http://{name}:{port}/hook"
        await add_destination(session, erin.id, "webhook", hook, secret=WEBHOOK_SECRET)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "webhook")], ticket)

        await make_relay(db).drain()

        assert server.requests == []
        row = await _dead_row(session)
        assert row.last_error is not None
        assert f"webhook: refused, {name} resolves to " in row.last_error
        # The control: the same destination, with private destinations allowed.
        again = ticket_event(ticket)
        await enqueue(session, again, [decision(again, f"user:{erin.id}", "webhook")], ticket)
        await make_relay(db, allow_private_destinations=True).drain()
        assert len(server.requests) == 1

    async def test_an_apprise_url_to_the_loopback_receiver_is_refused_when_sent(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        server, url = receiver
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        await add_destination(
            session, erin.id, "apprise", f"json://{url.removeprefix('http://')}/x"
        )
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "apprise")], ticket)

        await make_relay(db).drain()

        assert server.requests == []
        row = await _dead_row(session)
        assert row.last_error == (
            "apprise: refused, 127.0.0.1 is a loopback address;"
            " notifications go only to public hosts"
        )

    async def test_an_apprise_mail_through_a_loopback_smtp_server_is_refused(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        smtp_sink: tuple[SmtpSink, str],
    ) -> None:
        """Not only HTTP: mailto:// talks SMTP to the server its URL names."""
        sink, smtp_url = smtp_sink
        port = smtp_url.rsplit(":", 1)[1]
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        mailto = (
            f"mailto://erin@example.com?smtp=127.0.0.1&port={port}&mode=insecure"
            "&to=erin@example.com"
        )
        await add_destination(session, erin.id, "apprise", mailto)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "apprise")], ticket)

        await make_relay(db).drain()

        assert sink.messages == []
        assert "127.0.0.1 is a loopback address" in ((await _dead_row(session)).last_error or "")
        # The control: allowed, the same URL does reach the SMTP server.
        again = ticket_event(ticket)
        await enqueue(session, again, [decision(again, f"user:{erin.id}", "apprise")], ticket)
        await make_relay(db, allow_private_destinations=True).drain()
        assert len(sink.messages) == 1

    async def test_repeated_refusals_disable_the_destination_with_the_reason(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        server, url = receiver
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        await add_destination(session, erin.id, "webhook", url, secret=WEBHOOK_SECRET)
        for _ in range(5):
            event = ticket_event(ticket)
            await enqueue(session, event, [decision(event, f"user:{erin.id}", "webhook")], ticket)

        await make_relay(db).drain()

        assert server.requests == []
        assert await statuses(session) == {"dead": 5}
        dest = (await session.execute(select(NotificationDestination))).scalar_one()
        await session.refresh(dest)
        assert not dest.enabled
        assert dest.disabled_reason is not None
        assert "127.0.0.1 is a loopback address" in dest.disabled_reason

    async def test_a_name_that_does_not_resolve_is_retried_as_before(
        self, db: async_sessionmaker[AsyncSession], session: AsyncSession
    ) -> None:
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        hook = "https://no-such-host.invalid/hook"  # RFC 6761: never resolves
        await add_destination(session, erin.id, "webhook", hook, secret=WEBHOOK_SECRET)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "webhook")], ticket)

        await make_relay(db).drain()

        assert await statuses(session) == {"pending": 1}
        ((outcome, detail),) = await _attempts(session)
        assert outcome == "failed"
        assert detail is not None
        assert detail.startswith("webhook: cannot resolve no-such-host.invalid")


class TestTheSetting:
    @pytest.mark.parametrize("allowed", [False, True])
    async def test_the_relay_the_workers_run_follows_the_setting(
        self,
        settings: Settings,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
        allowed: bool,
    ) -> None:
        server, url = receiver
        host = url.removeprefix("http://")
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        await add_destination(session, erin.id, "webhook", f"{url}/hook", secret=WEBHOOK_SECRET)
        await add_destination(session, erin.id, "apprise", f"json://{host}/chat")
        event = ticket_event(ticket)
        chosen = [decision(event, f"user:{erin.id}", c) for c in ("webhook", "apprise")]
        await enqueue(session, event, chosen, ticket)
        configured = settings.model_copy(update={"allow_private_destinations": allowed})

        async with httpx.AsyncClient(timeout=5) as http:
            relay = build_relay(configured, db, MemoryBus(), SecretBox(TEST_SECRET_KEY), http)
            await relay.drain()

        if allowed:
            assert sorted(r.path for r in server.requests) == ["/chat", "/hook"]
            assert await statuses(session) == {"sent": 2}
        else:
            assert server.requests == []
            assert await statuses(session) == {"dead": 2}

    def test_it_is_off_unless_the_environment_turns_it_on(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("SOCIALDESK_ALLOW_PRIVATE_DESTINATIONS", raising=False)
        assert Settings().allow_private_destinations is False
        monkeypatch.setenv("SOCIALDESK_ALLOW_PRIVATE_DESTINATIONS", "true")
        assert Settings().allow_private_destinations is True
