"""Two people, two browsers, one ticket: the conversation is live and internal stays internal."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Role, User
from tests.factories import create_connector, create_ticket
from tests.web.conftest import make_person, signed_in
from tests.web.test_pages import SHOTS


async def test_agent_and_requester_chat_live_and_internal_notes_never_reach_the_requester(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    agent = await make_person(committed_db, Role.AGENT, "Alex Live")
    erin = await make_person(committed_db, Role.END_USER, "Erin Live")
    async with committed_db() as session:
        requester = await session.get(User, erin.id)
        ticket = await create_ticket(
            session,
            connector=await create_connector(session),
            requester=requester,
            title="VPN drops every 10 minutes",
        )
        await session.commit()

    agent_ctx, agent_page = await signed_in(browser, web_server, agent)
    erin_ctx, erin_page = await signed_in(
        browser, web_server, erin, viewport={"width": 390, "height": 800}
    )
    await agent_page.goto(f"/tickets/{ticket.id}")
    await erin_page.goto(f"/tickets/{ticket.id}")
    await expect(erin_page.get_by_text("Who sees this message")).to_have_count(0)

    await agent_page.get_by_label("Message").fill("Hi Erin, **which** VPN client version?")
    await agent_page.get_by_role("button", name="Send").click()
    erin_messages = erin_page.locator("#messages")
    await expect(erin_messages).to_contain_text("which VPN client version?")
    await expect(erin_messages.locator("strong", has_text="which")).to_have_count(1)

    await agent_page.get_by_label("Internal — agents only").check()
    await expect(agent_page.get_by_role("button", name="Send internal note")).to_be_visible()
    await agent_page.get_by_label("Message").fill("INTERNAL: vpn-gw-02 certificate expired")
    await agent_page.get_by_role("button", name="Send internal note").click()
    await expect(agent_page.locator("#messages .message.internal")).to_contain_text("vpn-gw-02")

    await erin_page.get_by_label("Message").fill("Version 5.2.1 <script>alert(1)</script>")
    await erin_page.get_by_role("button", name="Send").click()
    await expect(agent_page.locator("#messages")).to_contain_text("Version 5.2.1")
    await expect(erin_page.locator("#messages")).to_contain_text("Version 5.2.1")
    assert "vpn-gw-02" not in await erin_page.content()
    assert await erin_page.locator("#messages script").count() == 0

    # After a reload (a reconnect), the backlog still has no internal note for the requester.
    await erin_page.reload()
    await expect(erin_page.locator("#messages")).to_contain_text("which VPN client version?")
    assert "vpn-gw-02" not in await erin_page.content()
    await agent_page.screenshot(path=str(SHOTS / "ticket-agent-chat.png"), full_page=True)
    await erin_page.screenshot(path=str(SHOTS / "ticket-requester-phone.png"), full_page=True)
    await agent_ctx.close()
    await erin_ctx.close()


async def test_a_websocket_from_another_origin_does_not_get_the_session(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    import websockets

    erin = await make_person(committed_db, Role.END_USER, "Erin Origin")
    context, _page = await signed_in(browser, web_server, erin)
    cookie = next(c for c in await context.cookies() if c["name"] == "sd_session")
    ws_url = web_server.replace("http://", "ws://") + "/ws"
    headers = {"Cookie": f"sd_session={cookie['value']}", "Origin": "https://evil.example"}
    async with websockets.connect(ws_url, additional_headers=headers) as socket:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()  # the server waits for a token frame, then gives up
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    await context.close()


async def test_edits_and_deletions_reach_an_open_page_in_place(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    agent = await make_person(committed_db, Role.AGENT, "Alex Edits")
    erin = await make_person(committed_db, Role.END_USER, "Erin Edits")
    async with committed_db() as session:
        requester = await session.get(User, erin.id)
        ticket = await create_ticket(
            session, connector=await create_connector(session), requester=requester
        )
        await session.commit()
    api = httpx.AsyncClient(
        base_url=web_server, headers={"Authorization": f"Bearer {agent.token}"}, timeout=10
    )
    erin_ctx, erin_page = await signed_in(browser, web_server, erin)
    try:
        posted = []
        for body in ("first answer", "second answer", "third answer"):
            answer = await api.post(f"/api/v1/tickets/{ticket.id}/messages", json={"body": body})
            posted.append(answer.json()["id"])
        await erin_page.goto(f"/tickets/{ticket.id}")
        messages = erin_page.locator("#messages")
        await expect(messages).to_contain_text("third answer")

        await api.patch(f"/api/v1/messages/{posted[0]}", json={"body": "first answer, fixed"})
        await api.delete(f"/api/v1/messages/{posted[1]}")
        first, second = erin_page.locator(f"#m-{posted[0]}"), erin_page.locator(f"#m-{posted[1]}")
        await expect(first).to_contain_text("first answer, fixed")
        await expect(first).to_contain_text("edited")
        await expect(second).to_contain_text("(message deleted)")
        await expect(messages).not_to_contain_text("second answer")
        # the order stays: the edited message did not move to the end
        ids = await messages.locator("li.message").evaluate_all(
            "items => items.map((item) => item.dataset.messageId).filter(Boolean)"
        )
        assert ids == [str(i) for i in posted]
        await erin_page.reload()  # the server renders the same
        await expect(second).to_contain_text("(message deleted)")
        await expect(first).to_contain_text("first answer, fixed")
    finally:
        await api.aclose()
        await erin_ctx.close()
