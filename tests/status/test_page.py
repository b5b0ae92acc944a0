"""The status page: caching and 304s, headers, HTML safety, maintenance, 90 days of history."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.sessions import COOKIE, do_start_session
from app.kit.clock import utcnow
from app.models import Incident, Service, StatusRevision, User
from app.status import repository
from app.status.public import revision
from tests.status.conftest import Desk, add_service, approve, open_incident, post_update


def _days(page: str, name: str) -> list[str]:
    match = re.search(rf'<ol class="days" aria-label="{name}: [^"]*">(.*?)</ol>', page, re.S)
    assert match, f"no history for {name}"
    return re.findall(r'class="day day--([a-z_]+)"', match.group(1))


class TestCaching:
    async def test_etag_and_304(self, client: httpx.AsyncClient, desk: Desk) -> None:
        await add_service(client, desk, "vpn")
        first = await client.get("/status")
        assert first.status_code == 200
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert first.headers["cache-control"] == "public, max-age=30"
        assert "Authorization" in first.headers["vary"]
        again = await client.get("/status", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        since = await client.get("/status", headers={"If-Modified-Since": modified})
        assert since.status_code == 304
        stale = await client.get("/status", headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200

        # Publishing changes the page: the old ETag no longer matches.
        incident = await open_incident(client, desk, ["vpn"], body="VPN slow")
        assert (await approve(client, desk, incident["updates"][0]["id"])).status_code == 200
        changed = await client.get("/status", headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert "VPN slow" in changed.text

    async def test_a_revision_counter_that_starts_over_never_serves_an_old_rendering(
        self,
        client: httpx.AsyncClient,
        desk: Desk,
        session: AsyncSession,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A database restored from an older backup counts again from an old number."""
        monkeypatch.setattr(revision, "TTL", 0.0)  # every request reads the counter
        await add_service(client, desk, "vpn")
        await add_service(client, desk, "wifi", name="Wi-Fi")
        assert "Wi-Fi" in (await client.get("/status")).text  # cached under this number
        # The restore: the counter one back, Wi-Fi never added; then the next change
        # brings the counter to the number the page above was cached under.
        await session.execute(update(StatusRevision).values(revision=StatusRevision.revision - 1))
        await session.execute(delete(Service).where(Service.slug == "wifi"))
        await revision.do_bump(session)
        await session.commit()
        page = await client.get("/status")
        assert "VPN" in page.text
        assert "Wi-Fi" not in page.text

    async def test_if_modified_since_in_the_past_gets_the_page(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "vpn")
        long_ago = format_datetime(utcnow() - timedelta(days=2), usegmt=True)
        response = await client.get("/status", headers={"If-Modified-Since": long_ago})
        assert response.status_code == 200

    async def test_signed_in_page_is_private(self, client: httpx.AsyncClient, desk: Desk) -> None:
        public = await client.get("/status")
        private = await client.get("/status", headers=desk.erin)
        assert private.headers["cache-control"].startswith("private")
        assert private.headers["etag"] != public.headers["etag"]
        for path in ("/status.json", "/status/feed.atom", "/status/feed.rss"):
            response = await client.get(path)
            assert response.status_code == 200
            etag = response.headers["etag"]
            assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 304

    async def test_head(self, client: httpx.AsyncClient, desk: Desk) -> None:
        response = await client.head("/status")
        assert response.status_code == 200
        assert response.headers["etag"]


class TestWhoIsViewing:
    async def test_wrong_bearer_is_401_and_cookie_signs_in(
        self, client: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        assert (
            await client.get("/status", headers={"Authorization": "Bearer nope"})
        ).status_code == 401
        assert (await client.get("/status/feed.atom?token=nope")).status_code == 401
        erin = (
            await session.execute(select(User).where(User.role == "end_user").limit(1))
        ).scalar_one()
        cookie, _row = await do_start_session(session, user=erin)
        await session.commit()
        client.cookies.set(COOKIE, cookie)
        page = await client.get("/status")
        assert "updates meant for employees" in page.text
        client.cookies.set(COOKIE, "gone")
        expired = await client.get("/status")
        assert "updates meant for employees" not in expired.text
        client.cookies.clear()

    async def test_feed_token_rotation(self, client: httpx.AsyncClient, desk: Desk) -> None:
        first = (await client.post("/api/v1/me/feed-token", headers=desk.erin)).json()
        assert first["atom_url"].endswith(first["token"])
        second = (await client.post("/api/v1/me/feed-token", headers=desk.erin)).json()
        assert (await client.get(f"/status/feed.rss?token={first['token']}")).status_code == 401
        assert (await client.get(f"/status/feed.rss?token={second['token']}")).status_code == 200
        assert (await client.post("/api/v1/me/feed-token")).status_code == 401


class TestContent:
    async def test_html_in_bodies_is_rendered_inert(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "vpn")
        body = '<script>alert("x")</script> **better** [link](javascript:alert(1))'
        incident = await open_incident(client, desk, ["vpn"], title="<b>VPN</b>", body=body)
        assert (await approve(client, desk, incident["updates"][0]["id"])).status_code == 200
        page = await client.get("/status")
        assert "<script" not in page.text
        assert "&lt;script&gt;" in page.text
        assert "<strong>better</strong>" in page.text
        assert "javascript:" not in page.text.replace("[link](javascript", "")
        assert "&lt;b&gt;VPN&lt;/b&gt;" in page.text
        assert "script-src" not in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        css = await client.get("/status/static/status.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")

    async def test_maintenance_is_listed_with_its_window(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await add_service(client, desk, "erp", name="ERP")
        maintenance = await open_incident(
            client, desk, ["erp"], kind="maintenance", impact=None, title="ERP upgrade",
            body="ERP will be down for the upgrade.", audience="public",
            extra={"scheduled_start": "2030-01-05T20:00Z", "scheduled_end": "2030-01-05T23:00Z"},
        )  # fmt: skip
        assert (await approve(client, desk, maintenance["updates"][0]["id"])).status_code == 200
        page = (await client.get("/status")).text
        assert "Scheduled maintenance" in page
        assert "ERP upgrade" in page
        assert (
            '<time datetime="2030-01-05T20:00:00Z" title="2030-01-05 20:00 UTC">'
            "2030-01-05 20:00 UTC</time>"
        ) in page
        assert _days(page, "ERP")[-1] == "operational"
        summary = (await client.get("/status.json")).json()
        assert summary["scheduled_maintenances"][0]["scheduled_for"].startswith("2030-01-05T20")
        assert summary["components"][0]["status"] == "operational"

        await post_update(
            client, desk, maintenance["id"], body="Started", audience="internal",
            status="in_progress",
        )  # fmt: skip
        summary = (await client.get("/status.json")).json()
        assert summary["components"][0]["status"] == "under_maintenance"
        assert summary["status"]["indicator"] == "maintenance"

    async def test_ninety_days_of_history(
        self, client: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        await add_service(client, desk, "vpn", name="VPN")
        await add_service(client, desk, "wifi", name="Wi-Fi")
        incident = await open_incident(
            client, desk, ["vpn"], body="VPN down", impact="partial_outage"
        )
        assert (await approve(client, desk, incident["updates"][0]["id"])).status_code == 200
        await post_update(client, desk, incident["id"], body="Fixed", status="resolved")
        hidden = await open_incident(client, desk, ["wifi"], audience="internal")
        now = utcnow()
        await session.execute(update(Service).values(created_at=now - timedelta(days=200)))
        for ident, (start, end) in (
            (incident["id"], (now - timedelta(days=3), now - timedelta(days=2))),
            (hidden["id"], (now - timedelta(days=5), now - timedelta(days=5))),
        ):
            await session.execute(
                update(Incident)
                .where(Incident.id == ident)
                .values(started_at=start, resolved_at=end)
            )
        await repository.bump_revision(session)
        await session.commit()
        page = (await client.get("/status")).text
        vpn, wifi = _days(page, "VPN"), _days(page, "Wi-Fi")
        assert len(vpn) == len(wifi) == 90
        # Today is last: the incident ran from three days ago until two days ago.
        assert vpn[-5:] == [
            "operational", "partial_outage", "partial_outage", "operational", "operational",
        ]  # fmt: skip
        assert vpn.count("partial_outage") == 2
        # An incident never told to the public leaves no mark in the public history.
        assert set(wifi) == {"operational"}
        assert re.search(r"\d\d \w{3} \d{4}: partial outage", page)


async def _maintenance_at_8pm_utc(client: httpx.AsyncClient, desk: Desk) -> None:
    """A public maintenance 2030-01-05 20:00-23:00 UTC: known times to read back."""
    await add_service(client, desk, "erp", name="ERP")
    maintenance = await open_incident(
        client, desk, ["erp"], kind="maintenance", impact=None, title="ERP upgrade",
        body="ERP will be down.", audience="public",
        extra={"scheduled_start": "2030-01-05T20:00Z", "scheduled_end": "2030-01-05T23:00Z"},
    )  # fmt: skip
    assert (await approve(client, desk, maintenance["updates"][0]["id"])).status_code == 200


async def _in_zone(client: httpx.AsyncClient, headers: dict[str, str], zone: str) -> None:
    response = await client.put("/api/v1/me/preferences", json={"timezone": zone}, headers=headers)
    assert response.status_code == 200, response.text


def _shown(page: str) -> list[str]:
    """The wall-clock times the page shows, in order (machine times stay UTC)."""
    return re.findall(r'<time datetime="[^"]+Z" title="[^"]+ UTC">([^<]+)</time>', page)


class TestReadersTimeZone:
    async def test_signed_in_readers_read_their_zone_anonymous_ones_utc(
        self, client: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        await _maintenance_at_8pm_utc(client, desk)
        await _in_zone(client, desk.erin, "Europe/Paris")

        anonymous = (await client.get("/status")).text
        assert _shown(anonymous)[:2] == ["2030-01-05 20:00 UTC", "2030-01-05 23:00 UTC"]
        assert "Times are shown in UTC." in anonymous

        erin = (await client.get("/status", headers=desk.erin)).text
        assert _shown(erin)[:2] == ["2030-01-05 21:00 CET", "2030-01-06 00:00 CET"]
        assert "Times are shown in your time zone, Europe/Paris" in erin
        assert "Times are shown in UTC." not in erin
        assert '<time datetime="2030-01-05T20:00:00Z"' in erin  # machines still read UTC

        # The web UI's session cookie brings the same person's zone.
        user = (
            await session.execute(select(User).where(User.role == "end_user").limit(1))
        ).scalar_one()
        cookie, _row = await do_start_session(session, user=user)
        await session.commit()
        client.cookies.set(COOKIE, cookie)
        try:
            by_cookie = (await client.get("/status")).text
        finally:
            client.cookies.clear()
        assert _shown(by_cookie)[:1] == ["2030-01-05 21:00 CET"]

    async def test_a_copy_for_one_zone_is_never_current_for_another(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        await _maintenance_at_8pm_utc(client, desk)
        await _in_zone(client, desk.erin, "Europe/Paris")
        await _in_zone(client, desk.alex, "Asia/Tokyo")

        paris = await client.get("/status", headers=desk.erin)
        tokyo = await client.get("/status", headers=desk.alex)
        anonymous = await client.get("/status")
        etags = {r.headers["etag"] for r in (paris, tokyo, anonymous)}
        assert len(etags) == 3
        for response in (paris, tokyo, anonymous):
            assert {"Authorization", "Cookie"} <= {
                v.strip() for v in response.headers["vary"].split(",")
            }
        assert paris.headers["cache-control"] == "private, no-cache"
        assert anonymous.headers["cache-control"] == "public, max-age=30"

        # Each reader's own copy stays current...
        again = await client.get(
            "/status", headers={**desk.erin, "If-None-Match": paris.headers["etag"]}
        )
        assert again.status_code == 304
        # ...the Paris copy is not current for the Tokyo reader (nor the public one),
        for headers in (desk.alex, {}):
            other = await client.get(
                "/status", headers={**headers, "If-None-Match": paris.headers["etag"]}
            )
            assert other.status_code == 200
        # and once Erin moves to Tokyo her Paris copy is stale, by ETag or by date alone.
        await _in_zone(client, desk.erin, "Asia/Tokyo")
        moved = await client.get(
            "/status", headers={**desk.erin, "If-None-Match": paris.headers["etag"]}
        )
        assert moved.status_code == 200
        assert _shown(moved.text)[:1] == ["2030-01-06 05:00 JST"]
        assert moved.headers["etag"] == tokyo.headers["etag"]  # the same rendering as Alex's
        by_date = await client.get(
            "/status",
            headers={**desk.erin, "If-Modified-Since": paris.headers["last-modified"]},
        )
        assert by_date.status_code == 200
        assert _shown(by_date.text)[:1] == ["2030-01-06 05:00 JST"]
        # The public page still answers a date-only revalidation with a 304.
        public = await client.get(
            "/status", headers={"If-Modified-Since": anonymous.headers["last-modified"]}
        )
        assert public.status_code == 304

    async def test_the_day_history_follows_the_readers_calendar(
        self, client: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        """An outage at 23:00-23:30 UTC is on the next day for a reader in Tokyo (08:00)."""
        await add_service(client, desk, "vpn", name="VPN")
        incident = await open_incident(client, desk, ["vpn"], body="VPN down")
        assert (await approve(client, desk, incident["updates"][0]["id"])).status_code == 200
        await post_update(client, desk, incident["id"], body="Fixed", status="resolved")
        start = datetime.combine((utcnow() - timedelta(days=10)).date(), time(23), tzinfo=UTC)
        await session.execute(update(Service).values(created_at=start - timedelta(days=200)))
        await session.execute(
            update(Incident)
            .where(Incident.id == incident["id"])
            .values(started_at=start, resolved_at=start + timedelta(minutes=30))
        )
        await repository.bump_revision(session)
        await session.commit()
        await _in_zone(client, desk.alex, "Asia/Tokyo")

        for headers, zone in ((desk.alex, "Asia/Tokyo"), ({}, "UTC")):
            days = _days((await client.get("/status", headers=headers)).text, "VPN")
            today = utcnow().astimezone(ZoneInfo(zone)).date()
            marked = start.astimezone(ZoneInfo(zone)).date()
            assert [i for i, d in enumerate(days) if d != "operational"] == [
                len(days) - 1 - (today - marked).days
            ], zone
        # In Tokyo the outage's day is the UTC day after: the mark moved by one.
        assert start.astimezone(ZoneInfo("Asia/Tokyo")).date() == start.date() + timedelta(days=1)
