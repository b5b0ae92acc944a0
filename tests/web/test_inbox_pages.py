"""Following a ticket, the inbox badge, "why did I get this" and preferences, in a browser."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.events import notify_pending
from app.models import Role, User
from tests.factories import create_connector, create_ticket
from tests.notifications.support import make_relay
from tests.web.conftest import make_person, signed_in
from tests.web.test_pages import SHOTS


async def test_a_follower_sees_the_badge_reads_the_inbox_and_asks_why(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    agent = await make_person(committed_db, Role.AGENT, "Alex Inbox")
    erin = await make_person(committed_db, Role.END_USER, "Erin Inbox")
    sam = await make_person(committed_db, Role.END_USER, "Sam Follower")
    async with committed_db() as session:
        requester = await session.get(User, erin.id)
        ticket = await create_ticket(
            session,
            connector=await create_connector(session),
            requester=requester,
            title="E-mail is down for the whole floor",
        )
        ticket.followable = True  # a major incident everyone may follow
        await session.commit()

    context, page = await signed_in(browser, web_server, sam)
    await page.goto(f"/tickets/{ticket.id}")  # followable: Sam may see and follow it
    await page.get_by_role("button", name="Follow").click()
    await expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
    await expect(page.locator(".followers")).to_contain_text("Sam Follower")
    async with httpx.AsyncClient(base_url=web_server) as api:
        reply = await api.post(
            f"/api/v1/tickets/{ticket.id}/messages",
            json={"body": "Mail is flowing again after the relay restart."},
            headers={"Authorization": f"Bearer {agent.token}"},
        )
        assert reply.status_code == 201, reply.text
    while await notify_pending(committed_db):  # what the chat notifier worker does
        pass
    await make_relay(committed_db).drain()  # what the delivery relay does

    await page.goto("/tickets")
    badge = page.locator("#inbox-badge")
    await expect(badge).to_have_text("1")
    await page.get_by_role("link", name="Inbox").click()
    await expect(page.get_by_text("E-mail is down for the whole floor")).to_be_visible()
    await page.screenshot(path=str(SHOTS / "inbox.png"), full_page=True)
    await page.get_by_role("link", name="Why did I get this?").click()
    await expect(page.get_by_role("heading", name="Why did I get this?")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("followers")

    await page.goto("/preferences")
    await page.get_by_label("Also send e-mail").uncheck()
    await page.get_by_label("From").fill("22:00")
    await page.get_by_label("Until").fill("07:00")
    await page.get_by_label("Time zone").fill("Mars/Olympus")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_contain_text("time zone")
    await page.get_by_label("Time zone").fill("Europe/Paris")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await context.close()
