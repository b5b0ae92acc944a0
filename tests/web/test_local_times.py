"""Times on pages: the viewer's zone on screen (named), UTC in `datetime`, one filter."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import sessions
from app.models import ConnectorInstance, Delivery, InboxItem, NotificationPreference, Role, User
from app.web.timefmt import duration, time_element, wall_clock, zone_labels
from tests.factories import auth, create_ticket, create_user

WINTER = datetime(2026, 1, 15, 13, 5, 9, tzinfo=UTC)
SUMMER = datetime(2026, 7, 15, 13, 5, 9, tzinfo=UTC)


class TestFormatting:
    def test_wall_clock_names_the_zone(self) -> None:
        assert wall_clock(WINTER, "Europe/Paris") == "2026-01-15 14:05 CET"
        assert wall_clock(SUMMER, "Europe/Paris") == "2026-07-15 15:05 CEST"
        assert wall_clock(WINTER, "America/New_York", seconds=True) == "2026-01-15 08:05:09 EST"
        assert wall_clock(WINTER, "Asia/Dubai") == "2026-01-15 17:05 +04"
        assert wall_clock(WINTER, "UTC") == "2026-01-15 13:05 UTC"
        assert wall_clock("2026-01-15T13:05:09+00:00", None) == "2026-01-15 13:05 UTC"
        assert wall_clock(WINTER, "Mars/Olympus") == "2026-01-15 13:05 UTC"  # unknown: UTC

    def test_the_time_element_carries_utc_for_machines(self) -> None:
        naive = WINTER.replace(tzinfo=None)  # as SQLite returns it: stored as UTC
        for value in (WINTER, naive):
            html = str(time_element(value, "Europe/Paris"))
            assert html == (
                '<time datetime="2026-01-15T13:05:09Z" title="2026-01-15 13:05 UTC">'
                "2026-01-15 14:05 CET</time>"
            )

    def test_zone_labels_let_the_script_name_offsets_like_the_server(self) -> None:
        assert json.loads(zone_labels("Europe/Paris")) == {"+01:00": "CET", "+02:00": "CEST"}
        assert json.loads(zone_labels("Asia/Kolkata")) == {"+05:30": "IST"}
        assert json.loads(zone_labels(None)) == {"+00:00": "UTC"}

    def test_durations(self) -> None:
        assert [duration(s) for s in (None, 5, 600, 3600, 3900, 200_000)] == [
            "—",
            "5 s",
            "10 min",
            "1 h",
            "1 h 5 min",
            "2 d 7 h",
        ]


async def _browse(
    client: httpx.AsyncClient, session: AsyncSession, role: Role, zone: str | None
) -> tuple[User, str, str]:
    """A signed-in person (cookie on the client) in `zone`; returns user, csrf, API token."""
    user, token = await create_user(session, role=role)
    if zone:
        session.add(NotificationPreference(user_id=user.id, timezone=zone))
    cookie, row = await sessions.do_start_session(session, user=user)
    await session.commit()
    client.cookies.set(sessions.COOKIE, cookie)
    return user, row.csrf_token, token


def _times(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<time datetime="([^"]+)" title="[^"]+">([^<]+)</time>', html)


class TestPages:
    async def test_lists_and_the_ticket_show_the_viewers_zone(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, _, _ = await _browse(client, session, Role.ADMIN, "Europe/Paris")
        ticket = await create_ticket(session, requester=user)
        ticket.external_updated_at = WINTER
        session.add(
            InboxItem(
                user_id=user.id,
                idempotency_key="tz-test",
                ticket_id=ticket.id,
                event_type="ticket.commented",
                title="A reply",
                created_at=SUMMER,
            )
        )
        connector = await session.get(ConnectorInstance, ticket.connector_id)
        assert connector is not None
        connector.last_success_at = WINTER
        session.add(
            Delivery(
                idempotency_key="tz:1",
                event_key="tz",
                recipient_key="user:1",
                channel="webhook",
                timing="send",
                status="dead",
                updated_at=SUMMER,
            )
        )
        await session.commit()

        tickets = _times((await client.get("/tickets")).text)
        assert ("2026-01-15T13:05:09Z", "2026-01-15 14:05 CET") in tickets
        inbox = _times((await client.get("/inbox")).text)
        assert ("2026-07-15T13:05:09Z", "2026-07-15 15:05 CEST") in inbox
        page = await client.get(f"/tickets/{ticket.id}")
        assert '<meta name="user-tz" content="Europe/Paris">' in page.text
        assert all(shown.endswith(("CET", "CEST")) for _, shown in _times(page.text))
        connectors = _times((await client.get("/admin/connectors")).text)
        assert ("2026-01-15T13:05:09Z", "2026-01-15 14:05:09 CET") in connectors
        deliveries = _times((await client.get("/admin/deliveries")).text)
        assert ("2026-07-15T13:05:09Z", "2026-07-15 15:05 CEST") in deliveries
        policy = _times((await client.get("/admin/policy")).text)
        assert policy
        assert all(shown.endswith(("CET", "CEST")) for _, shown in policy)

    async def test_the_status_desk_shows_the_viewers_zone(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, _, token = await _browse(client, session, Role.ADMIN, "America/New_York")
        made = await client.post(
            "/api/v1/services",
            headers=auth(token),
            json={"slug": "tz-mail", "name": "Mail", "visibility": "public"},
        )
        assert made.status_code == 201, made.text
        opened = await client.post(
            "/api/v1/status/incidents",
            headers=auth(token),
            json={
                "title": "Mail is slow",
                "services": [{"service": "tz-mail"}],
                "update": {"audience": "public", "body": "Looking into it."},
            },
        )
        assert opened.status_code == 201, opened.text
        desk = (await client.get("/desk/status")).text
        times = _times(desk)
        assert len(times) >= 2  # the pending update, the open incident
        assert all(shown.endswith(("EST", "EDT")) for _, shown in times)
        assert all(machine.endswith("Z") for machine, _ in times)

    async def test_without_a_choice_times_are_utc_and_say_so(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, _, _ = await _browse(client, session, Role.END_USER, None)
        ticket = await create_ticket(session, requester=user)
        ticket.external_updated_at = WINTER
        await session.commit()
        tickets = _times((await client.get("/tickets")).text)
        assert tickets == [("2026-01-15T13:05:09Z", "2026-01-15 13:05 UTC")]

    async def test_the_zone_is_chosen_on_the_preferences_page_without_quiet_hours(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, csrf, token = await _browse(client, session, Role.END_USER, None)
        form = {"csrf": csrf, "email": "on", "digest": "immediate", "timezone": "Asia/Tokyo"}
        saved = await client.post("/preferences", data=form)
        assert saved.status_code == 200
        assert 'value="Asia/Tokyo"' in saved.text
        prefs = (await client.get("/api/v1/me/preferences", headers=auth(token))).json()
        assert (prefs["timezone"], prefs["quiet_hours"]) == ("Asia/Tokyo", None)
        refused = await client.post("/preferences", data={**form, "timezone": "Mars/Olympus"})
        assert refused.status_code == 422
        assert "IANA time zone" in refused.text

    async def test_one_zone_per_person_in_the_api(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, _, token = await _browse(client, session, Role.END_USER, None)
        quiet = {"start": "22:00", "end": "07:00", "timezone": "Europe/Paris"}
        clash = await client.put(
            "/api/v1/me/preferences",
            headers=auth(token),
            json={"timezone": "Asia/Tokyo", "quiet_hours": quiet},
        )
        assert clash.status_code == 422
        both = await client.put(
            "/api/v1/me/preferences", headers=auth(token), json={"quiet_hours": quiet}
        )
        assert both.json()["timezone"] == "Europe/Paris"
        cleared = await client.put(
            "/api/v1/me/preferences", headers=auth(token), json={"quiet_hours": None}
        )
        assert (cleared.json()["timezone"], cleared.json()["quiet_hours"]) == (
            "Europe/Paris",
            None,
        )


async def test_the_ticket_names_a_known_requester_when_the_system_gave_no_name(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _browse(client, session, Role.AGENT, None)  # an agent, signed in
    erin, _ = await create_user(session, name="Erin Requester")
    ticket = await create_ticket(session, requester=erin)
    ticket.requester_name = None
    await session.commit()
    page = (await client.get(f"/tickets/{ticket.id}")).text
    assert "Requester: Erin Requester" in page
