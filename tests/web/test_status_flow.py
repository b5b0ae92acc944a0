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
