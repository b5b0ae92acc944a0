"""The web UI in a real browser: sign-in, tickets under least visibility, admin errors."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Role
from tests.factories import create_connector, create_event, create_ticket
from tests.web.conftest import PASSWORD, make_person, signed_in

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def test_sign_in_rejects_a_wrong_password_and_sets_a_safe_cookie(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    erin = await make_person(committed_db, Role.END_USER, "Erin Web")
    context = await browser.new_context(base_url=web_server)
    page = await context.new_page()
    response = await page.goto("/login")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    await page.get_by_label("E-mail").fill(erin.email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("do not match")

    await page.get_by_label("E-mail").fill(erin.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/tickets")
    cookie = next(c for c in await context.cookies() if c["name"] == "sd_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/login")
    await page.goto("/tickets")
    await page.wait_for_url("**/login?next=/tickets")
    await context.close()


async def test_a_login_post_without_the_form_token_is_refused(web_server: str) -> None:
    async with httpx.AsyncClient(base_url=web_server) as client:
        response = await client.post("/login", data={"email": "x@example.com", "password": "y"})
    assert response.status_code == 401


async def test_end_users_see_their_tickets_and_never_internal_entries(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    erin = await make_person(committed_db, Role.END_USER, "Erin Requester")
    sam = await make_person(committed_db, Role.END_USER, "Sam Other")
    async with committed_db() as session:
        connector = await create_connector(session)
        from app.models import User

        erin_user = await session.get(User, erin.id)
        sam_user = await session.get(User, sam.id)
        mine = await create_ticket(
            session, connector=connector, requester=erin_user, title="Printer on floor 2 jams"
        )
        theirs = await create_ticket(
            session, connector=connector, requester=sam_user, title="Sam's secret ticket"
        )
        await create_event(session, mine, body="We ordered a new fuser.", visibility="public")
        await create_event(
            session, mine, body="INTERNAL: vendor contract expired", visibility="internal"
        )
        await session.commit()

    context, page = await signed_in(browser, web_server, erin)
    await expect(page.get_by_role("link", name="Printer on floor 2 jams")).to_be_visible()
    await expect(page.get_by_text("Sam's secret ticket")).to_have_count(0)
    await page.get_by_role("link", name="Printer on floor 2 jams").click()
    await expect(page.locator(".timeline").get_by_text("We ordered a new fuser.")).to_be_visible()
    # the conversation's backlog (system entries over the socket) has arrived too
    await expect(page.locator("#messages")).to_contain_text("We ordered a new fuser.")
    assert "vendor contract" not in await page.content()
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "ticket-end-user.png"), full_page=True)

    response = await page.goto(f"/tickets/{theirs.id}")
    assert response is not None
    assert response.status == 404
    await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    await context.close()


async def test_admin_adding_a_connector_with_a_bad_url_reads_the_error(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    admin = await make_person(committed_db, Role.ADMIN, "Ada Web")
    context, page = await signed_in(browser, web_server, admin)
    await page.goto("/admin/connectors")
    await page.get_by_label("Kind").select_option("redmine")
    await page.get_by_label("Name").fill("Broken Redmine")
    await page.get_by_label("URL").fill("http://127.0.0.1:9")
    await page.locator("#secrets").fill("api_key=definitely-wrong-key-123")
    await page.locator("#settings").fill("project=it-services")
    await page.get_by_role("button", name="Check and add").click()
    error = page.locator("#connector-error")
    await expect(error).to_be_visible()
    assert "definitely-wrong-key-123" not in await page.content()
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "admin-connectors.png"), full_page=True)
    await context.close()


async def test_admin_creates_a_user_and_reads_the_metrics_dashboard(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    admin = await make_person(committed_db, Role.ADMIN, "Ada Metrics")
    context, page = await signed_in(browser, web_server, admin)
    await page.goto("/admin/users")
    await page.get_by_label("Name").fill("Nina New")
    await page.get_by_label("E-mail").fill(admin.email)  # taken: the server says so
    await page.get_by_role("button", name="Add user").click()
    await expect(page.get_by_role("alert")).to_contain_text("already exists")
    await page.get_by_label("Name").fill("Nina New")
    await page.get_by_label("E-mail").fill("nina.new@example.com")
    await page.get_by_label("Role").select_option("agent")
    await page.get_by_role("button", name="Add user").click()
    await expect(page.get_by_role("status")).to_contain_text("Created nina.new@example.com")
    await expect(page.get_by_role("cell", name="nina.new@example.com")).to_be_visible()

    await page.goto("/admin/metrics")
    await expect(page.get_by_role("heading", name="Metrics — last 30 days")).to_be_visible()
    await expect(page.get_by_text("Share of tickets answered within SLA")).to_be_visible()
    await expect(page.get_by_text("Satisfaction: average rating by day")).to_be_visible()
    await page.screenshot(path=str(SHOTS / "admin-metrics.png"), full_page=True)
    await context.close()


async def test_end_users_cannot_reach_admin_pages(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    erin = await make_person(committed_db, Role.END_USER, "Erin Curious")
    context, page = await signed_in(browser, web_server, erin)
    for path in ("/admin/connectors", "/admin/users", "/admin/metrics"):
        response = await page.goto(path)
        assert response is not None
        assert response.status == 404
    await context.close()


async def test_an_admin_retries_a_dead_letter(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    from app.models import Delivery

    admin = await make_person(committed_db, Role.ADMIN, "Ada Deliveries")
    async with committed_db() as session:
        dead = Delivery(
            idempotency_key="ticket_event:1:user:1:webhook",
            event_key="ticket_event:1",
            recipient_key="user:1",
            channel="webhook",
            timing="send",
            status="dead",
            attempts=8,
            last_error="HTTP 500 from the receiver",
        )
        session.add(dead)
        await session.commit()
    context, page = await signed_in(browser, web_server, admin)
    await page.goto("/admin/deliveries")
    row = page.get_by_role("row").filter(has_text="HTTP 500 from the receiver")
    await row.get_by_role("button", name="Retry").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Delivery {dead.id}")
    await expect(page.get_by_text("HTTP 500 from the receiver")).to_have_count(0)
    await context.close()
