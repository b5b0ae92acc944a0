"""Following an IT service from the status page, and seeing (and ending) it in preferences."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Role, ServiceFollow
from tests.web.conftest import make_person, signed_in


async def _add_services(
    db: async_sessionmaker[AsyncSession], base_url: str, *services: tuple[str, str]
) -> None:
    """Through the API, as an admin does (which also moves the status page on)."""
    admin = await make_person(db, Role.ADMIN, f"Ada {services[0][0]}")
    async with httpx.AsyncClient(base_url=base_url) as api:
        for slug, visibility in services:
            created = await api.post(
                "/api/v1/services",
                headers={"Authorization": f"Bearer {admin.token}"},
                json={"slug": slug, "name": slug.upper(), "group": "IT", "visibility": visibility},
            )
            assert created.status_code == 201, created.text


async def _follows(db: async_sessionmaker[AsyncSession], user_id: int) -> list[str]:
    async with db() as session:
        stmt = select(ServiceFollow.service_slug).where(ServiceFollow.user_id == user_id)
        return sorted((await session.execute(stmt)).scalars())


async def test_an_employee_follows_a_service_on_the_status_page_and_unfollows_it_in_preferences(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    erin = await make_person(committed_db, Role.END_USER, "Erin Follows")
    await _add_services(
        committed_db,
        web_server,
        ("vpn", "employees"),
        ("mail", "public"),
        ("core-switch", "internal"),
    )

    # Nobody signed in: the page is the shared public one, with no per-person controls.
    async with httpx.AsyncClient(base_url=web_server) as anonymous:
        public = await anonymous.get("/status")
        assert 'class="follow"' not in public.text
        assert "sd-follow" not in public.text

    context, page = await signed_in(browser, web_server, erin)
    await page.goto("/status")
    vpn = page.locator("#service-vpn")
    await vpn.get_by_role("button", name="Follow").click()
    await page.wait_for_url("**/status#service-vpn")
    await expect(vpn.get_by_role("button", name="Following · Unfollow")).to_be_visible()
    await expect(page.locator("#service-mail").get_by_role("button", name="Follow")).to_be_visible()
    assert await page.locator("#service-core-switch").count() == 0  # internal: not shown
    assert await _follows(committed_db, erin.id) == ["vpn"]

    await page.goto("/preferences")
    follows = page.locator(".follows").first
    await expect(follows).to_contain_text("VPN")
    await follows.get_by_role("button", name="Unfollow").click()
    await page.wait_for_url("**/preferences")
    await expect(page.get_by_text("None yet. Follow a service")).to_be_visible()
    assert await _follows(committed_db, erin.id) == []

    # The buttons cannot be turned against the person or the desk:
    request = context.request
    forged = await request.post(
        "/follows/services/vpn", form={"csrf": "not-the-token", "action": "follow"}
    )
    assert forged.status == 422  # the preferences page, saying the form expired
    assert "The form expired" in await forged.text()
    assert await _follows(committed_db, erin.id) == []
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    assert csrf
    hidden = await request.post(
        "/follows/services/core-switch", form={"csrf": csrf, "action": "follow"}
    )
    assert hidden.status == 404  # an internal service is as missing as no service
    away = await request.post(
        "/follows/services/mail",
        form={"csrf": csrf, "action": "follow", "next": "https://evil.example/"},
        max_redirects=0,
    )
    assert away.status == 303
    assert away.headers["location"] == "/preferences"
    assert await _follows(committed_db, erin.id) == ["mail"]
    await context.close()


async def test_a_readers_follow_state_is_never_served_to_another_reader(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    """The status page is rendered once per change and shared; the buttons are per person."""
    ann = await make_person(committed_db, Role.END_USER, "Ann Shared")
    ben = await make_person(committed_db, Role.END_USER, "Ben Shared")
    await _add_services(committed_db, web_server, ("wifi", "employees"))
    async with committed_db() as session:
        session.add(ServiceFollow(service_slug="wifi", user_id=ann.id))
        await session.commit()

    ann_context, ann_page = await signed_in(browser, web_server, ann)
    ben_context, ben_page = await signed_in(browser, web_server, ben)
    await ann_page.goto("/status")
    await ben_page.goto("/status")
    wifi = "#service-wifi"
    await expect(ann_page.locator(wifi).get_by_role("button")).to_have_text("Following · Unfollow")
    await expect(ben_page.locator(wifi).get_by_role("button")).to_have_text("Follow")
    # Each page's form carries its own reader's token.
    ann_csrf = await ann_page.locator(f"{wifi} input[name=csrf]").get_attribute("value")
    ben_csrf = await ben_page.locator(f"{wifi} input[name=csrf]").get_attribute("value")
    assert ann_csrf
    assert ann_csrf != ben_csrf

    # A copy revalidated after following is a new one, not a 304 of the old buttons.
    first = await ben_context.request.get("/status")
    etag = first.headers["etag"]
    await ben_page.locator(wifi).get_by_role("button", name="Follow").click()
    again = await ben_context.request.get("/status", headers={"If-None-Match": etag})
    assert again.status == 200
    assert "Following · Unfollow" in await again.text()
    await ann_context.close()
    await ben_context.close()
