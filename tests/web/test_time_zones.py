"""A person chooses a time zone; every page, and the live chat, then reads in it."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Role, User
from tests.factories import auth, create_connector, create_event, create_ticket
from tests.web.conftest import make_person, signed_in
from tests.web.test_pages import SHOTS

# Socialdesk's own abbreviation for New York (the browser alone would say "GMT-5").
NEW_YORK = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d (EST|EDT)$")


async def test_times_follow_the_viewers_zone_on_load_and_live(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    agent = await make_person(committed_db, Role.AGENT, "Alex Zones")
    erin = await make_person(committed_db, Role.END_USER, "Erin Zones")
    async with committed_db() as session:
        ticket = await create_ticket(
            session,
            connector=await create_connector(session),
            requester=await session.get(User, erin.id),
            title="Calendar invites arrive an hour late",
        )
        await create_event(session, ticket, body="Escalated to the mail team.")
        await session.commit()
    async with httpx.AsyncClient(base_url=web_server) as api:
        first = await api.post(
            f"/api/v1/tickets/{ticket.id}/messages",
            json={"body": "Which calendar app do you use?"},
            headers=auth(agent.token),
        )
        assert first.status_code == 201, first.text

    context, page = await signed_in(browser, web_server, erin)
    await page.goto("/preferences")
    await page.get_by_label("Time zone").fill("America/New_York")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")

    await page.goto("/tickets")
    updated = page.locator("#ticket-list time")
    await expect(updated).to_have_text(NEW_YORK)
    assert (await updated.get_attribute("datetime") or "").endswith("Z")

    await page.goto(f"/tickets/{ticket.id}")
    await expect(page.locator(".timeline time")).to_have_text(NEW_YORK)
    loaded = page.locator(f"#m-{first.json()['id']} header time")
    await expect(loaded).to_have_text(NEW_YORK)
    await page.get_by_label("Message").fill("Outlook on a Mac.")
    await page.get_by_role("button", name="Send", exact=True).click()
    live = page.locator(".message", has_text="Outlook on a Mac.").locator("header time")
    await expect(live).to_have_text(NEW_YORK)
    machine = await live.get_attribute("datetime") or ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", machine)
    await page.screenshot(path=str(SHOTS / "ticket-time-zone.png"), full_page=True)

    # Anonymous readers of the public status page read UTC, and are told so.
    anonymous = await browser.new_context(base_url=web_server)
    public = await anonymous.new_page()
    await public.goto("/status")
    await expect(public.get_by_text("Times are shown in UTC.")).to_be_visible()
    await anonymous.close()
    await context.close()
