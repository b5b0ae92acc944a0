"""A screenshot picked in one browser shows up as a thumbnail in the other's conversation."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Role, User
from tests.factories import create_connector, create_ticket
from tests.files.support import PDF, PNG, make_png
from tests.web.conftest import make_person, signed_in
from tests.web.test_pages import SHOTS


async def test_a_picked_screenshot_reaches_the_agent_as_a_thumbnail(
    browser: Browser,
    web_server: str,
    committed_db: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    agent = await make_person(committed_db, Role.AGENT, "Alex Files")
    erin = await make_person(committed_db, Role.END_USER, "Erin Files")
    async with committed_db() as session:
        requester = await session.get(User, erin.id)
        ticket = await create_ticket(
            session,
            connector=await create_connector(session),
            requester=requester,
            title="Error dialog on start",
        )
        await session.commit()
    shot = tmp_path / "error-dialog.png"
    shot.write_bytes(make_png(240, 140, (37, 99, 235)))
    manual = tmp_path / "manual.pdf"
    manual.write_bytes(PDF)

    agent_ctx, agent_page = await signed_in(browser, web_server, agent)
    erin_ctx, erin_page = await signed_in(browser, web_server, erin)
    await agent_page.goto(f"/tickets/{ticket.id}")
    await erin_page.goto(f"/tickets/{ticket.id}")

    await erin_page.get_by_label("Attach files").set_input_files([str(shot), str(manual)])
    pending = erin_page.locator("#pending-files")
    await expect(pending).to_contain_text("error-dialog.png")
    await expect(pending).to_contain_text("manual.pdf")
    await erin_page.get_by_label("Message").fill("This pops up at start")
    await erin_page.get_by_role("button", name="Send").click()
    await expect(pending.locator("li")).to_have_count(0)

    thumb = agent_page.locator("#messages img.thumb[alt='error-dialog.png']")
    await expect(thumb).to_have_count(1)
    # Really loaded through the download URL (a broken image has no natural width).
    await agent_page.wait_for_function(
        "() => { const i = document.querySelector('#messages img.thumb');"
        " return i && i.complete && i.naturalWidth === 240; }"
    )
    link = agent_page.locator("#messages a[download='manual.pdf']")
    await expect(link).to_have_count(1)

    # After a reload the server-rendered conversation shows them too.
    await agent_page.reload()
    await expect(agent_page.locator("#messages img.thumb[alt='error-dialog.png']")).to_have_count(1)
    await agent_page.wait_for_function(
        "() => { const i = document.querySelector('#messages img.thumb');"
        " return i && i.complete && i.naturalWidth === 240; }"
    )
    await agent_page.screenshot(path=str(SHOTS / "ticket-attachments.png"), full_page=True)
    await agent_ctx.close()
    await erin_ctx.close()


_GIVE_FILE = """([kind, bytes]) => {
  const data = new DataTransfer();
  data.items.add(new File([Uint8Array.from(bytes)], "", { type: "image/png" }));
  const target = document.getElementById(kind === "paste" ? "body" : "composer");
  const event = kind === "paste"
    ? new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true })
    : new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true });
  target.dispatchEvent(event);
}"""


async def test_a_pasted_or_dropped_screenshot_goes_with_the_next_message(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    agent = await make_person(committed_db, Role.AGENT, "Alex Paste")
    async with committed_db() as session:
        ticket = await create_ticket(session, connector=await create_connector(session))
        await session.commit()
    context, page = await signed_in(browser, web_server, agent)
    await page.goto(f"/tickets/{ticket.id}")
    await page.evaluate(_GIVE_FILE, ["paste", list(PNG)])
    await page.evaluate(_GIVE_FILE, ["drop", list(PNG)])
    pending = page.locator("#pending-files li")
    await expect(pending).to_have_count(2)
    await expect(pending.first).to_contain_text("screenshot-")
    # No text: the message announces the files by name.
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator("#messages img.thumb")).to_have_count(2)
    await expect(page.locator("#messages .message").last).to_contain_text("📎 screenshot-")
    await context.close()
