"""The saved replies page: an agent adds, fixes, shares and deletes replies in the browser."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Role
from tests.factories import auth
from tests.web.conftest import make_person, signed_in
from tests.web.test_pages import SHOTS


async def test_an_agent_manages_saved_replies_and_a_colleague_sees_the_shared_ones(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    alex = await make_person(committed_db, Role.AGENT, "Alex Page")
    bo = await make_person(committed_db, Role.AGENT, "Bo Page")
    erin = await make_person(committed_db, Role.END_USER, "Erin Page")
    context, page = await signed_in(browser, web_server, alex)
    await page.get_by_role("link", name="Saved replies").click()
    await page.wait_for_url("**/saved-replies")
    await expect(page.get_by_text("No saved replies yet")).to_be_visible()

    await page.get_by_label("Title").fill("VPN greeting")
    await page.get_by_label("Text").fill("Hi {{requester.firstname}}, on it.")
    await page.get_by_label("Shared with all agents").check()
    await page.get_by_role("button", name="Save reply").click()
    body = page.get_by_label("Text")
    await expect(body).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#reply-body-error")).to_contain_text("{{requester.firstname}}")
    await expect(page.get_by_label("Title")).to_have_value("VPN greeting")  # nothing lost
    await expect(page.get_by_label("Shared with all agents")).to_be_checked()

    await body.fill("Hi {{requester.first_name}}, {{ticket.number}} is with me.")
    await page.get_by_role("button", name="Save reply").click()
    await expect(page.get_by_role("status")).to_have_text("Saved “VPN greeting”.")
    row = page.get_by_role("row", name="VPN greeting")
    await expect(row).to_contain_text("All staff")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "saved-replies.png"), full_page=True)

    async with httpx.AsyncClient(base_url=web_server) as api:
        listed = await api.get("/api/v1/saved-replies", headers=auth(bo.token))
        assert [r["title"] for r in listed.json()["items"]] == ["VPN greeting"]
        assert listed.json()["items"][0]["editable"] is False
        reply_id = listed.json()["items"][0]["id"]

        # Bo sees it but cannot change it: no buttons, and the edit page is not there
        bo_ctx, bo_page = await signed_in(browser, web_server, bo)
        await bo_page.goto("/saved-replies")
        bo_row = bo_page.get_by_role("row", name="VPN greeting")
        await expect(bo_row).to_contain_text("shared by Alex Page")
        await expect(bo_row.get_by_role("button", name="Delete")).to_have_count(0)
        assert (await bo_page.goto(f"/saved-replies/{reply_id}")).status == 404  # type: ignore[union-attr]
        await bo_ctx.close()

        await row.get_by_role("link", name="Edit").click()
        await page.get_by_label("Shared with all agents").uncheck()
        await page.get_by_role("button", name="Save reply").click()
        await expect(page.get_by_role("row", name="VPN greeting")).to_contain_text("Only you")
        listed = await api.get("/api/v1/saved-replies", headers=auth(bo.token))
        assert listed.json()["items"] == []

        await (
            page.get_by_role("row", name="VPN greeting")
            .get_by_role("button", name="Delete")
            .click()
        )
        await expect(page.get_by_role("status")).to_have_text("Deleted “VPN greeting”.")
        listed = await api.get("/api/v1/saved-replies", headers=auth(alex.token))
        assert listed.json()["items"] == []
    await context.close()

    # end users have no such page (it looks missing) and no link to it
    erin_ctx, erin_page = await signed_in(browser, web_server, erin)
    await expect(erin_page.get_by_role("link", name="Saved replies")).to_have_count(0)
    assert (await erin_page.goto("/saved-replies")).status == 404  # type: ignore[union-attr]
    await erin_ctx.close()
