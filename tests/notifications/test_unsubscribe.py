"""Unsubscribing from e-mail without signing in: signed, purpose-bound, expiring tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.clock import utcnow
from app.kit.signing import BadToken, Signer
from app.models import NotificationPreference
from app.notifications.compose import UNSUBSCRIBE_PURPOSE
from tests.conftest import TEST_SECRET_KEY
from tests.factories import auth, create_ticket, create_user
from tests.notifications.receivers import SmtpSink
from tests.notifications.support import (
    BASE_URL,
    decision,
    enqueue,
    make_relay,
    statuses,
    ticket_event,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class TestSigner:
    def test_a_token_round_trips_until_it_expires(self) -> None:
        signer = Signer(TEST_SECRET_KEY, "unsubscribe")
        token = signer.sign({"u": 7}, now=NOW, ttl=timedelta(days=1))
        assert signer.verify(token, now=NOW + timedelta(hours=23))["u"] == 7
        with pytest.raises(BadToken, match="expired"):
            signer.verify(token, now=NOW + timedelta(days=1))

    def test_a_token_is_bound_to_its_purpose_and_key(self) -> None:
        token = Signer(TEST_SECRET_KEY, "unsubscribe").sign({"u": 7}, now=NOW, ttl=timedelta(1))
        with pytest.raises(BadToken):
            Signer(TEST_SECRET_KEY, "survey").verify(token, now=NOW)
        with pytest.raises(BadToken):
            Signer("another-key-" + "y" * 32, "unsubscribe").verify(token, now=NOW)

    @pytest.mark.parametrize("mangle", ["", "abc", "a.b", "..", "x" * 40 + "." + "y" * 43])
    def test_garbage_is_refused(self, mangle: str) -> None:
        with pytest.raises(BadToken):
            Signer(TEST_SECRET_KEY, "unsubscribe").verify(mangle, now=NOW)

    def test_a_changed_claim_breaks_the_signature(self) -> None:
        signer = Signer(TEST_SECRET_KEY, "unsubscribe")
        _, mac = signer.sign({"u": 7}, now=NOW, ttl=timedelta(1)).split(".")
        forged_body = (
            Signer(TEST_SECRET_KEY, "unsubscribe")
            .sign({"u": 8}, now=NOW, ttl=timedelta(1))
            .split(".")[0]
        )
        with pytest.raises(BadToken, match="signature"):
            signer.verify(f"{forged_body}.{mac}", now=NOW)


class TestUnsubscribePages:
    async def test_the_link_in_a_mail_unsubscribes_without_signing_in(
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
        await make_relay(db, smtp_url=url).drain()
        link = str(sink.messages[0]["List-Unsubscribe"]).strip()[1:-1]
        path = link.removeprefix(BASE_URL)

        page = await client.get(path)  # a mail scanner opening the link changes nothing
        assert page.status_code == 200
        assert erin.email in page.text
        assert f'action="{path}"' in page.text
        assert await session.get(NotificationPreference, erin.id) is None

        one_click = await client.post(
            path, content="List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        assert one_click.status_code == 200
        assert "unsubscribed" in one_click.text
        prefs = await client.get("/api/v1/me/preferences", headers=auth(token))
        assert prefs.json()["email"] is False

        # The next mail is not sent.
        later_event = ticket_event(ticket)
        chosen = decision(later_event, f"user:{erin.id}", "email")
        await enqueue(session, later_event, [chosen], ticket)
        await make_relay(db, smtp_url=url).drain()
        assert len(sink.messages) == 1
        assert (await statuses(session))["skipped"] == 1

    async def test_forged_and_expired_links_are_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        erin, _ = await create_user(session)
        await session.commit()
        signer = Signer(TEST_SECRET_KEY, UNSUBSCRIBE_PURPOSE)
        expired = signer.sign({"u": erin.id, "c": "email"}, now=utcnow() - timedelta(days=91),
                              ttl=timedelta(days=90))  # fmt: skip
        forged = Signer("not-our-key-" + "z" * 32, UNSUBSCRIBE_PURPOSE).sign(
            {"u": erin.id, "c": "email"}, now=utcnow(), ttl=timedelta(days=90)
        )
        wrong_purpose = Signer(TEST_SECRET_KEY, "survey").sign(
            {"u": erin.id, "c": "email"}, now=utcnow(), ttl=timedelta(days=90)
        )
        for token in (expired, forged, wrong_purpose, "nonsense"):
            for method in (client.get, client.post):
                answer = await method(f"/unsubscribe/{token}")
                assert answer.status_code == 400
                assert "not valid" in answer.text
        assert await session.get(NotificationPreference, erin.id) is None
