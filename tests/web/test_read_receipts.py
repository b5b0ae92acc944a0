"""Read indicators in two browsers: the requester reads, the agent sees "Seen" appear live;
the requester sees the service desk's reads, never at an internal message."""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.async_api import Browser, Page, WebSocket, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Role, User
from tests.factories import auth, create_connector, create_ticket
from tests.web.conftest import make_person, signed_in
from tests.web.test_pages import SHOTS


def record_frames(page: Page) -> list[dict[str, Any]]:
    """Every frame the page's sockets receive, decoded."""
    frames: list[dict[str, Any]] = []

    def on_socket(socket: WebSocket) -> None:
        def on_frame(payload: str | bytes) -> None:
            frames.append(json.loads(payload))

        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return frames


async def test_the_agent_sees_the_requester_read_live_and_the_requester_never_sees_internal(
    browser: Browser, web_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    agent = await make_person(committed_db, Role.AGENT, "Alex Reads")
    erin = await make_person(committed_db, Role.END_USER, "Erin Reads")
    async with committed_db() as session:
        ticket = await create_ticket(
            session,
            connector=await create_connector(session),
            requester=await session.get(User, erin.id),
            title="Laptop will not dock",
        )
        await session.commit()
    url = f"/api/v1/tickets/{ticket.id}/messages"
    async with httpx.AsyncClient(base_url=web_server) as api:

        async def post(token: str, body: str, visibility: str = "public") -> int:
            sent = await api.post(
                url, json={"body": body, "visibility": visibility}, headers=auth(token)
            )
            assert sent.status_code == 201, sent.text
            return int(sent.json()["id"])

        asked = await post(erin.token, "The dock blinks orange.")
        answer = await post(agent.token, "Which dock model is it?")
        internal = await post(agent.token, "INTERNAL: batch 7 docks are faulty", "internal")

    # The agent opens the ticket first: nobody else has read anything yet.
    agent_ctx, agent_page = await signed_in(browser, web_server, agent)
    await agent_page.goto(f"/tickets/{ticket.id}")
    await expect(agent_page.locator(f"#m-{internal}")).to_contain_text("batch 7")
    await expect(agent_page.locator(".seen")).to_have_count(0)

    # The requester opens it: her page was rendered with the desk's read (the agent read up
    # to the internal note) at the latest public message before it, and nothing internal.
    erin_ctx, erin_page = await signed_in(
        browser, web_server, erin, viewport={"width": 390, "height": 800}
    )
    erin_frames = record_frames(erin_page)
    response = await erin_page.goto(f"/tickets/{ticket.id}")
    assert response is not None
    html = await response.text()
    assert f'data-read="{answer}"' in html
    assert f'data-read="{internal}"' not in html
    assert "batch 7" not in html
    desk_seen = erin_page.locator(f"#m-{answer} .seen")
    await expect(desk_seen).to_have_text("Seen by the service desk")
    await expect(erin_page.locator(".seen")).to_have_count(1)

    # ...and her read reaches the agent's page live, without a reload.
    erin_seen = agent_page.locator(f"#m-{answer} .seen")
    await expect(erin_seen).to_have_text("Seen by Erin Reads")
    await expect(agent_page.locator(f"#m-{asked} .seen")).to_have_count(0)

    # A new public reply: the agent reads it, the requester's marker moves live, and hers too.
    await agent_page.get_by_label("Message").fill("Please send a photo of the label.")
    await agent_page.get_by_role("button", name="Send", exact=True).click()
    reply = erin_page.locator(".message", has_text="photo of the label")
    await expect(reply.locator(".seen")).to_have_text("Seen by the service desk")
    await expect(erin_page.locator(".seen")).to_have_count(1)
    reply_id = await reply.get_attribute("data-message-id")
    await expect(agent_page.locator(f"#m-{reply_id} .seen")).to_have_text("Seen by Erin Reads")

    # An internal note the agent reads moves nothing for the requester.
    await agent_page.get_by_label("Internal — agents only").check()
    await agent_page.get_by_label("Message").fill("INTERNAL: order a replacement dock")
    await agent_page.get_by_role("button", name="Send internal note").click()
    await expect(agent_page.locator(".message.internal", has_text="replacement")).to_be_visible()
    await agent_page.get_by_label("Public — the requester sees it").check()
    await agent_page.get_by_label("Message").fill("A replacement is on its way.")
    await agent_page.get_by_role("button", name="Send", exact=True).click()
    last = erin_page.locator(".message", has_text="replacement is on its way")
    await expect(last.locator(".seen")).to_have_text("Seen by the service desk")
    await expect(erin_page.locator(".seen")).to_have_count(1)
    await agent_page.screenshot(path=str(SHOTS / "ticket-read-agent.png"), full_page=True)
    await erin_page.screenshot(path=str(SHOTS / "ticket-read-requester.png"), full_page=True)

    # On the wire: the requester never got another end user's read, an internal id or body.
    internal_ids = {internal}
    for frame in erin_frames:
        for entry in [frame, *frame.get("backlog", [])]:
            message = entry.get("message") or {}
            if message.get("visibility") == "internal":
                internal_ids.add(message["id"])
    reads = [f for f in erin_frames if f.get("type") == "read"]
    assert reads, "the desk's reads reach the requester live"
    assert all(f["staff"] is True for f in reads)
    assert not internal_ids & {f["message_id"] for f in reads}
    assert "INTERNAL" not in json.dumps(erin_frames)

    # After a reload the markers come from the server, where the live ones left them.
    await erin_page.reload()
    await expect(last.locator(".seen")).to_have_text("Seen by the service desk")
    await expect(erin_page.locator(".seen")).to_have_count(1)
    await agent_page.reload()
    await expect(agent_page.locator(".seen")).to_have_count(1)
    await expect(agent_page.locator(".seen")).to_contain_text("Erin Reads")
    await agent_ctx.close()
    await erin_ctx.close()
