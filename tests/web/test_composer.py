"""The chat composer in a real browser: Enter sends, drafts survive a reload, the label says
who will read the message, and `/` inserts a saved reply filled in for the ticket."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Role, Ticket, User
from tests.factories import auth, create_connector, create_ticket
from tests.web.conftest import Person, make_person, signed_in
from tests.web.test_pages import SHOTS

PUBLIC = "Public — the requester sees it"
INTERNAL = "Internal — agents only"


@dataclass
class Desk:
    agent: Person
    erin: Person
    ticket: Ticket


@pytest.fixture
async def desk(committed_db: async_sessionmaker[AsyncSession]) -> Desk:
    agent = await make_person(committed_db, Role.AGENT, "Alex Composer")
    erin = await make_person(committed_db, Role.END_USER, "Erin Composer")
    async with committed_db() as session:
        ticket = await create_ticket(
            session,
            connector=await create_connector(session),
            requester=await session.get(User, erin.id),
            title="VPN drops every 10 minutes",
        )
        await session.commit()
    return Desk(agent, erin, ticket)


async def _bodies(web_server: str, person: Person, ticket: Ticket) -> list[tuple[str, str]]:
    async with httpx.AsyncClient(base_url=web_server, headers=auth(person.token)) as api:
        answer = await api.get(f"/api/v1/tickets/{ticket.id}/messages")
    return [(m["visibility"], m["body"]) for m in answer.json()["items"]]


async def _draft_keys(page: Page) -> list[str]:
    keys: list[str] = await page.evaluate(
        "() => Object.keys(localStorage).filter((k) => k.startsWith('socialdesk:draft:'))"
    )
    return keys


async def test_enter_sends_and_shift_enter_starts_a_new_line(
    browser: Browser, web_server: str, desk: Desk
) -> None:
    context, page = await signed_in(browser, web_server, desk.agent)
    await page.goto(f"/tickets/{desk.ticket.id}")
    box = page.get_by_label("Message")
    await box.click()
    await page.keyboard.type("Which client version?")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("And which OS?")
    await expect(box).to_have_value("Which client version?\nAnd which OS?")

    # Enter that confirms an input method's composition (Japanese, Chinese, ...) is left to
    # the input method: the composer does not take it, so nothing is sent.
    taken = await box.evaluate(
        "(b) => !b.dispatchEvent(new KeyboardEvent('keydown', "
        "{key: 'Enter', isComposing: true, bubbles: true, cancelable: true}))"
    )
    assert taken is False
    await expect(box).to_have_value("Which client version?\nAnd which OS?")

    await page.keyboard.press("Enter")
    await expect(page.locator("#messages .message.public")).to_contain_text("And which OS?")
    await expect(box).to_have_value("")
    assert await _bodies(web_server, desk.agent, desk.ticket) == [
        ("public", "Which client version?\nAnd which OS?")
    ]
    await context.close()


async def test_drafts_survive_a_reload_per_ticket_and_visibility_until_sent(
    browser: Browser, web_server: str, desk: Desk, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    async with committed_db() as session:
        other = await create_ticket(session, title="Printer jams")
        await session.commit()
    context, page = await signed_in(browser, web_server, desk.agent)
    await page.goto(f"/tickets/{desk.ticket.id}")
    box = page.get_by_label("Message")
    await box.fill("Hi Erin, a fix is on its way")
    await page.get_by_label(INTERNAL).check()
    await expect(box).to_have_value("")  # the internal note has a draft of its own
    await box.fill("gw-02 certificate expired")

    await page.reload()
    # the draft written last comes back, in its visibility
    await expect(page.get_by_label(INTERNAL)).to_be_checked()
    await expect(box).to_have_value("gw-02 certificate expired")
    await page.get_by_label(PUBLIC).check()
    await expect(box).to_have_value("Hi Erin, a fix is on its way")
    await page.goto(f"/tickets/{other.id}")
    await expect(box).to_have_value("")  # drafts are per ticket
    await page.goto(f"/tickets/{desk.ticket.id}")
    await expect(box).to_have_value("gw-02 certificate expired")

    await box.press("Enter")  # sends the internal note: its draft is gone, the public one stays
    await expect(page.locator("#messages .message.internal")).to_contain_text("gw-02")
    await page.reload()
    await expect(page.get_by_label(PUBLIC)).to_be_checked()
    await expect(box).to_have_value("Hi Erin, a fix is on its way")
    await box.press("Enter")
    await expect(page.locator("#messages .message.public")).to_contain_text("a fix is on its way")
    await page.reload()
    await expect(box).to_have_value("")
    assert await _draft_keys(page) == []
    assert await _bodies(web_server, desk.agent, desk.ticket) == [
        ("internal", "gw-02 certificate expired"),
        ("public", "Hi Erin, a fix is on its way"),
    ]
    await context.close()


async def test_the_composer_says_public_or_internal_and_flips_with_the_switch(
    browser: Browser, web_server: str, desk: Desk
) -> None:
    context, page = await signed_in(browser, web_server, desk.agent)
    await page.goto(f"/tickets/{desk.ticket.id}")
    audience = page.locator("#composer-audience")
    await expect(audience).to_have_attribute("aria-live", "polite")
    await expect(page.get_by_label("Message")).to_have_attribute(
        "aria-describedby", re.compile(r"\bcomposer-audience\b")
    )
    await expect(audience).to_have_text("Public — the requester will see this message.")
    await expect(audience).to_have_class(re.compile(r"\baudience-public\b"))
    public_colour = await audience.evaluate("(a) => getComputedStyle(a).backgroundColor")

    await page.get_by_label(INTERNAL).check()
    await expect(audience).to_have_text("Internal — agents only; the requester will not see this.")
    await expect(audience).to_have_class(re.compile(r"\baudience-internal\b"))
    assert await audience.evaluate("(a) => getComputedStyle(a).backgroundColor") != public_colour
    await expect(page.get_by_role("button", name="Send internal note")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.locator("#composer").screenshot(path=str(SHOTS / "ticket-composer-internal.png"))

    await page.get_by_label(PUBLIC).check()
    await expect(audience).to_have_text("Public — the requester will see this message.")
    await context.close()


async def test_an_end_user_has_no_internal_switch_and_no_saved_replies(
    browser: Browser, web_server: str, desk: Desk
) -> None:
    context, page = await signed_in(browser, web_server, desk.erin)
    await page.goto(f"/tickets/{desk.ticket.id}")
    assert await page.locator('input[name="visibility"][value="internal"]').count() == 0
    await expect(page.locator("#composer-audience")).to_have_count(0)
    await expect(page.locator("#reply-picker")).to_have_count(0)
    await expect(page.get_by_text("Saved replies")).to_have_count(0)
    box = page.get_by_label("Message")
    await box.click()
    await page.keyboard.type("/etc/hosts is wrong")
    await page.keyboard.press("Enter")
    await expect(page.locator("#messages")).to_contain_text("/etc/hosts is wrong")

    # and the server refuses an internal message from this person's session
    status = await page.evaluate(
        """async (ticket) => (await fetch(`/api/v1/tickets/${ticket}/messages`, {
            method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json",
                      "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content},
            body: JSON.stringify({body: "let me in", visibility: "internal"}),
        })).status""",
        desk.ticket.id,
    )
    assert status == 403
    assert await _bodies(web_server, desk.agent, desk.ticket) == [("public", "/etc/hosts is wrong")]
    await context.close()


async def test_slash_inserts_a_saved_reply_with_the_requester_and_ticket_filled_in(
    browser: Browser, web_server: str, desk: Desk, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    colleague = await make_person(committed_db, Role.AGENT, "Bo Colleague")
    async with httpx.AsyncClient(base_url=web_server) as api:
        for token, title, body, shared in [
            (
                colleague.token,
                "VPN greeting",
                "Hi {{requester.first_name}}, I am on {{ticket.number}} now. {{agent.first_name}}",
                True,
            ),
            (desk.agent.token, "Printer toner", "A new toner is on its way.", False),
            (colleague.token, "Bo's own", "Only Bo sees this.", False),
        ]:
            created = await api.post(
                "/api/v1/saved-replies",
                json={"title": title, "body": body, "shared": shared},
                headers=auth(token),
            )
            assert created.status_code == 201, created.text

    context, page = await signed_in(browser, web_server, desk.agent)
    await page.goto(f"/tickets/{desk.ticket.id}")
    box = page.get_by_label("Message")
    options = page.get_by_role("listbox", name="Saved replies").get_by_role("option")
    await box.click()
    await page.keyboard.type("/")
    await expect(options).to_have_text([re.compile("Printer toner"), re.compile("VPN greeting")])
    await expect(options.first).to_have_attribute("aria-selected", "true")
    await page.keyboard.type("vpn")
    await expect(options).to_have_count(1)
    await expect(box).to_have_attribute("aria-expanded", "true")
    await expect(box).to_have_attribute("aria-activedescendant", re.compile("reply-option-"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.locator("#composer").screenshot(path=str(SHOTS / "ticket-saved-replies.png"))
    await page.keyboard.press("Enter")
    greeting = f"Hi Erin, I am on {desk.ticket.external_id} now. Alex"
    await expect(box).to_have_value(greeting)
    await expect(page.locator("#reply-picker")).to_be_hidden()
    await expect(page.locator("#reply-status")).to_have_text("Inserted “VPN greeting”.")

    # Ctrl+/ finds one by name and inserts it at the caret; arrows choose, Escape closes
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.press("Control+/")
    search = page.get_by_label("Find a saved reply")
    await expect(search).to_be_focused()
    await page.keyboard.press("ArrowDown")
    await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    await page.keyboard.press("Escape")
    await expect(page.locator("#reply-picker")).to_be_hidden()
    await expect(box).to_be_focused()
    await page.keyboard.press("Control+/")
    await page.keyboard.type("toner")
    await expect(options).to_have_count(1)
    await page.keyboard.press("Enter")
    await expect(box).to_have_value(f"{greeting}\nA new toner is on its way.")
    await expect(box).to_be_focused()

    # Escape on a "/" line closes the list, and Enter then sends as always
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("/no such reply")
    await expect(page.locator("#reply-status")).to_contain_text("No saved reply matches")
    await page.keyboard.press("Escape")
    await expect(page.locator("#reply-picker")).to_be_hidden()
    await page.keyboard.press("Backspace")
    await expect(page.locator("#reply-picker")).to_be_hidden()
    await page.keyboard.press("Control+a")
    await page.keyboard.press("Delete")
    await page.keyboard.type("/vpn")
    await expect(options).to_have_count(1)
    await page.keyboard.press("Enter")
    await expect(box).to_have_value(greeting)
    await page.keyboard.press("Enter")
    await expect(page.locator("#messages .message.public")).to_contain_text("Hi Erin, I am on")
    assert await _bodies(web_server, desk.agent, desk.ticket) == [("public", greeting)]
    await context.close()
