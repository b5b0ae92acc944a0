"""The policy editor and the approvals queue in a real browser."""

from __future__ import annotations

from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Role
from tests.web.conftest import make_person, signed_in
from tests.web.test_pages import SHOTS

UNSAFE = """rules:
  - id: leak-internal-chat
    on: [chat.message]
    to: [requester]
    via: [email]
"""


async def test_the_editor_shows_refusals_inline_and_activates_a_valid_policy(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    admin = await make_person(committed_db, Role.ADMIN, "Ada Policy")
    context, page = await signed_in(browser, web_server, admin)
    await page.goto("/admin/policy")
    original = await page.locator("#yaml").input_value()
    assert "rules:" in original

    await page.locator("#yaml").fill(UNSAFE)
    await page.get_by_role("button", name="Validate").click()
    issues = page.locator("#policy-issues")
    await expect(issues).to_contain_text("leak-internal-chat")
    await expect(page.locator("#yaml")).to_have_value(UNSAFE)  # the text is kept for fixing

    await page.locator("#yaml").fill(original)
    await page.get_by_role("button", name="Simulate last 7 days").click()
    await expect(page.get_by_role("heading", name="Who would receive what")).to_be_visible()
    await page.locator("#yaml").fill(original + "\n# reviewed\n")
    await page.get_by_role("button", name="Activate").click()
    await expect(page.get_by_role("status")).to_contain_text("is now active")
    await page.screenshot(path=str(SHOTS / "admin-policy.png"), full_page=True)
    await page.goto("/admin/approvals")
    await expect(page.get_by_role("heading", name="Approvals")).to_be_visible()
    await context.close()


async def test_the_approvals_queue_enforces_the_two_person_rule(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    from app.models import ApprovalRequest
    from app.policy.service import get_active_version

    author = await make_person(committed_db, Role.ADMIN, "Ada Author")
    second = await make_person(committed_db, Role.ADMIN, "Bo Second")
    async with committed_db() as session:
        version = await get_active_version(session)
        session.add(
            ApprovalRequest(
                event_key="status_update:web-test",
                event_type="status.update",
                subject="VPN outage: public update",
                requested_by_user_id=author.id,
                findings=[{"kind": "ipv4", "label": "[IP address]"}],
                rule_ids=["public-status"],
                policy_version_id=version.id,
            )
        )
        await session.commit()

    context, page = await signed_in(browser, web_server, author)
    await page.goto("/admin/approvals")
    card = page.get_by_role("article").filter(has_text="VPN outage: public update")
    await expect(card).to_contain_text("[IP address]")
    await card.get_by_role("button", name="Approve").click()
    await expect(page.get_by_role("alert")).to_contain_text("two-person rule")
    await context.close()

    context, page = await signed_in(browser, web_server, second)
    await page.goto("/admin/approvals")
    card = page.get_by_role("article").filter(has_text="VPN outage: public update")
    await card.get_by_role("button", name="Approve").click()  # flagged: needs a reason
    await expect(page.get_by_role("alert")).to_contain_text("needs a reason")
    card = page.get_by_role("article").filter(has_text="VPN outage: public update")
    await card.get_by_label("Reason").fill("The IP is the public VPN gateway")
    await card.get_by_role("button", name="Approve").click()
    await expect(page.get_by_role("status")).to_contain_text("approved")
    # The notice says what the approval let out (a request made up here held nothing).
    await expect(page.get_by_role("status")).to_contain_text("Nothing was held for this event")
    await expect(page.get_by_text("VPN outage: public update")).to_have_count(0)
    await context.close()
