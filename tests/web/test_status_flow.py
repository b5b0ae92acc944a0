"""A public status update waits for a second person, then shows on the public page."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Role
from tests.web.conftest import make_person
from tests.web.test_pages import SHOTS


async def test_a_public_update_is_invisible_until_a_second_person_approves_it(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    admin = await make_person(committed_db, Role.ADMIN, "Ada Status")
    author = await make_person(committed_db, Role.AGENT, "Alex Status")
    approver = await make_person(committed_db, Role.AGENT, "Bo Status")

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async with httpx.AsyncClient(base_url=web_server) as api:
        service = await api.post(
            "/api/v1/services",
            headers=bearer(admin.token),
            json={
                "slug": "web-mail",
                "name": "Web Mail",
                "group": "Collaboration",
                "visibility": "public",
            },
        )
        assert service.status_code == 201, service.text
        incident = await api.post(
            "/api/v1/status/incidents",
            headers=bearer(author.token),
            json={
                "title": "mx-03.corp.example.com queue stuck",
                "public_title": "Delayed e-mail",
                "services": [{"service": "web-mail", "impact": "partial_outage"}],
                "update": {
                    "status": "investigating",
                    "audience": "public",
                    "body": "Queue on mx-03 (10.1.2.3) is stuck; restarting postfix.",
                    "public_body": "Some e-mails arrive late. We are on it.",
                },
            },
        )
        assert incident.status_code == 201, incident.text
        update_id = incident.json()["updates"][0]["id"]

        context = await browser.new_context(base_url=web_server)
        page = await context.new_page()
        await page.goto("/status")
        assert "Delayed e-mail" not in await page.content()  # a draft is invisible

        own = await api.post(
            f"/api/v1/status/updates/{update_id}/approve", headers=bearer(author.token), json={}
        )
        assert own.status_code == 403  # the two-person rule
        approved = await api.post(
            f"/api/v1/status/updates/{update_id}/approve", headers=bearer(approver.token), json={}
        )
        assert approved.status_code == 200, approved.text

    # A reload revalidates (the public page may be cached for 30 s; its ETag changed).
    await page.reload()
    await expect(page.get_by_text("Some e-mails arrive late. We are on it.")).to_be_visible()
    await expect(page.get_by_text("Delayed e-mail").first).to_be_visible()
    content = await page.content()
    for secret in ("mx-03", "10.1.2.3", "postfix", "corp.example.com"):
        assert secret not in content
    await page.screenshot(path=str(SHOTS / "status-page.png"), full_page=True)
    await context.close()


async def test_the_status_desk_previews_findings_and_a_second_agent_publishes(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    from tests.web.conftest import signed_in

    admin = await make_person(committed_db, Role.ADMIN, "Ada Desk")
    author = await make_person(committed_db, Role.AGENT, "Alex Desk")
    second = await make_person(committed_db, Role.AGENT, "Bo Desk")
    async with httpx.AsyncClient(base_url=web_server) as api:
        created = await api.post(
            "/api/v1/services",
            headers={"Authorization": f"Bearer {admin.token}"},
            json={"slug": "desk-vpn", "name": "Desk VPN", "visibility": "public"},
        )
        assert created.status_code == 201, created.text

    context, page = await signed_in(browser, web_server, author)
    await page.goto("/desk/status")
    await page.get_by_label("Title (staff)").fill("vpn-gw-02 certificate expired")
    await page.get_by_label("Title employees and the public read").fill("VPN sign-in failures")
    await page.get_by_label("Service").select_option("desk-vpn")
    await page.get_by_label("Audience").select_option("public")
    await page.get_by_label("What staff read").fill("Renewing the cert on 10.9.8.7 now.")
    await page.get_by_label("What employees or the public read (optional)").fill(
        "Some people cannot sign in to the VPN (gateway 10.9.8.7). A fix is under way."
    )
    await page.get_by_role("button", name="Preview per audience").click()
    public_preview = page.get_by_role("region", name="Preview for public")
    await expect(public_preview.locator("mark")).to_have_text("10.9.8.7")
    await page.screenshot(path=str(SHOTS / "status-desk-preview.png"), full_page=True)
    await page.get_by_label("What employees or the public read (optional)").fill(
        "Some people cannot sign in to the VPN. A fix is under way."
    )
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_role("status")).to_contain_text("opened")
    await context.close()

    context, page = await signed_in(browser, web_server, second)
    await page.goto("/desk/status")
    card = page.get_by_role("article").filter(has_text="Some people cannot sign in")
    await card.get_by_role("button", name="Approve and publish").click()
    await expect(page.get_by_role("status")).to_contain_text("decided")
    await page.goto("/status")
    await page.reload()
    await expect(page.get_by_text("Some people cannot sign in to the VPN.")).to_be_visible()
    assert "vpn-gw-02" not in await page.content()
    await context.close()
