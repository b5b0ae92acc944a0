"""Admins manage IT services and look after one connector, in a real browser."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.secrets import SecretBox
from app.models import ConnectorInstance, Role
from tests.conftest import TEST_SECRET_KEY
from tests.factories import auth
from tests.web.conftest import make_person, signed_in
from tests.web.test_pages import SHOTS

STORED_KEY = "stored-redmine-key-0123456789"


async def test_an_admin_adds_and_edits_a_service_and_reads_the_errors_inline(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    admin = await make_person(committed_db, Role.ADMIN, "Ada Services")
    context, page = await signed_in(browser, web_server, admin)
    await page.goto("/desk/status")
    await page.get_by_role("link", name="Manage services").click()
    await page.wait_for_url("**/admin/services")
    await expect(page.locator(".subnav").get_by_role("link", name="Services")).to_be_visible()

    await page.get_by_label("Name").fill("Web Mail")
    await page.get_by_label("Slug").fill("Web Mail!")
    await page.get_by_label("Visibility").select_option("public")
    await page.get_by_role("button", name="Add service").click()
    await expect(page.get_by_role("alert")).to_contain_text("check the fields")
    slug = page.get_by_label("Slug")
    await expect(slug).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#s-slug-error")).to_contain_text("lower-case letters")
    await expect(page.get_by_label("Name")).to_have_value("Web Mail")  # kept for fixing
    await expect(page.get_by_label("Visibility")).to_have_value("public")

    await slug.fill("web-mail")
    await page.get_by_label("Group (optional)").fill("Collaboration")
    await page.get_by_role("button", name="Add service").click()
    await expect(page.get_by_role("status")).to_have_text("Added Web Mail.")
    row = page.locator("#service-list tr", has_text="web-mail")
    await expect(row.get_by_role("cell", name="Collaboration")).to_be_visible()
    await expect(row.get_by_role("cell", name="public", exact=True)).to_be_visible()
    await expect(row.get_by_role("cell", name="operational")).to_be_visible()

    await page.get_by_label("Name").fill("Web Mail again")
    await page.get_by_label("Slug").fill("web-mail")
    await page.get_by_role("button", name="Add service").click()
    await expect(page.locator("#s-slug-error")).to_contain_text("exists")
    await page.screenshot(path=str(SHOTS / "admin-services.png"), full_page=True)

    await page.goto("/admin/services")
    await page.get_by_role("link", name="Web Mail", exact=True).click()
    await page.wait_for_url("**/admin/services/web-mail")
    await page.get_by_label("Name").fill("   ")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#s-name-error")).to_be_visible()
    await expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    await page.get_by_label("Name").fill("Web Mail (Outlook)")
    await page.get_by_label("Description (optional)").fill("Mail in the browser.")
    await page.get_by_label("Visibility").select_option("employees")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await expect(page.get_by_label("Name")).to_have_value("Web Mail (Outlook)")
    await page.screenshot(path=str(SHOTS / "admin-service-edit.png"), full_page=True)
    await page.goto("/admin/services")
    row = page.locator("#service-list tr", has_text="web-mail")
    await expect(row.get_by_role("cell", name="employees")).to_be_visible()
    await expect(row.get_by_role("link", name="Web Mail (Outlook)")).to_be_visible()
    await context.close()


async def test_an_admin_checks_health_syncs_and_edits_a_connector_without_seeing_secrets(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    admin = await make_person(committed_db, Role.ADMIN, "Ada Connectors")
    async with httpx.AsyncClient(base_url=web_server) as api:
        added = await api.post(
            "/api/v1/connectors",
            json={"kind": "demo", "name": "Demo desk"},
            headers=auth(admin.token),
        )
        assert added.status_code == 201, added.text
        demo_id = added.json()["id"]
    async with committed_db() as session:
        redmine = ConnectorInstance(
            kind="redmine",
            name="Redmine (gone)",
            base_url="http://127.0.0.1:9",
            secrets_sealed=SecretBox(TEST_SECRET_KEY).seal({"api_key": STORED_KEY}),
            settings={"project": "it-services"},
            remote_identity="redmine:http://127.0.0.1:9:project:it-services",
        )
        session.add(redmine)
        await session.commit()
    context, page = await signed_in(browser, web_server, admin)

    # The demo desk: sync now from its page, then the health says when and how it went.
    await page.goto("/admin/connectors")
    await page.get_by_role("link", name="Demo desk").click()
    await page.wait_for_url(f"**/admin/connectors/{demo_id}")
    await expect(page.locator("#connector-state")).to_have_text("never synced")
    await page.get_by_role("button", name="Sync now").click()
    await expect(page.get_by_role("status")).to_contain_text("Synced:")
    await expect(page.locator("#connector-state")).to_have_text("ok")
    await expect(page.locator(".facts")).not_to_contain_text("never")
    await page.locator("#c-settings").fill("rate=12")
    await page.get_by_role("button", name="Check and save").click()
    await expect(page.get_by_role("status")).to_have_text("Saved. The credentials were checked.")
    await expect(page.locator("#c-settings")).to_contain_text("rate=12")

    # A Redmine that is gone: the sync fails, the page says so; new credentials are
    # checked before saving and refused; the stored key is never shown.
    await page.goto(f"/admin/connectors/{redmine.id}")
    await page.get_by_role("button", name="Sync now").click()
    await expect(page.get_by_role("status")).to_contain_text("Sync failed")
    await expect(page.locator("#connector-state")).to_have_text("failing")
    api_key = page.get_by_label("api_key")
    await expect(api_key).to_have_value("")
    await api_key.fill("a-brand-new-key-987654")
    await page.get_by_label("Poll interval (seconds)").fill("30")
    await page.get_by_role("button", name="Check and save").click()
    await expect(page.locator("#connector-error")).to_be_visible()
    await expect(page.get_by_label("api_key")).to_have_value("")
    await expect(page.get_by_label("Poll interval (seconds)")).to_have_value("30")
    content = await page.content()
    assert STORED_KEY not in content
    assert "a-brand-new-key-987654" not in content
    await page.screenshot(path=str(SHOTS / "admin-connector.png"), full_page=True)

    # Leaving the secret empty keeps it: a rename saves without a check.
    await page.get_by_label("Name").fill("Redmine (old server)")
    await page.get_by_role("button", name="Check and save").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    async with committed_db() as session:
        stored = await session.get(ConnectorInstance, redmine.id)
        assert stored is not None
        assert stored.name == "Redmine (old server)"
        assert stored.poll_interval == 30
        assert SecretBox(TEST_SECRET_KEY).open(stored.secrets_sealed) == {"api_key": STORED_KEY}
    await context.close()
