"""Files on the socket: a `message` frame may name uploads, and every frame lists them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.files.support import PNG

if TYPE_CHECKING:
    from tests.chat.live import ChatServer, Desk

pytest_plugins = ["tests.chat.live"]


async def _upload(chat_server: ChatServer, token: str, ticket_id: int) -> dict[str, object]:
    async with chat_server.http(token) as http:
        sent = await http.post(
            f"/api/v1/tickets/{ticket_id}/attachments",
            files={"file": ("shot.png", PNG, "image/png")},
        )
    assert sent.status_code == 201, sent.text
    out: dict[str, object] = sent.json()
    return out


async def test_a_sent_frame_carries_files_to_the_other_participant(
    chat_server: ChatServer, desk: Desk
) -> None:
    agent = await chat_server.client(desk.agent_token)
    await agent.send(type="subscribe", ticket_id=desk.ticket.id)
    await agent.expect("subscribed")
    requester = await chat_server.client(desk.requester_token)
    png = await _upload(chat_server, desk.requester_token, desk.ticket.id)
    await requester.send(
        type="message",
        ticket_id=desk.ticket.id,
        body="the error",
        client_msg_id="m1",
        attachments=[png["id"]],
    )
    await requester.expect("ack", client_msg_id="m1")
    frame = await agent.expect("message")
    assert frame["message"]["attachments"] == [png]
    # A later subscriber gets it in the backlog, files included.
    late = await chat_server.client(desk.agent2_token)
    await late.send(type="subscribe", ticket_id=desk.ticket.id)
    backlog = (await late.expect("subscribed"))["backlog"]
    assert [m["message"]["attachments"] for m in backlog if m["type"] == "message"] == [[png]]


async def test_a_refused_file_is_an_error_frame(chat_server: ChatServer, desk: Desk) -> None:
    agents = await _upload(chat_server, desk.agent_token, desk.ticket.id)
    requester = await chat_server.client(desk.requester_token)
    await requester.send(
        type="message",
        ticket_id=desk.ticket.id,
        body="mine now?",
        client_msg_id="m2",
        attachments=[agents["id"]],
    )
    error = await requester.expect("error", ref="m2")
    assert error["code"] == "attachment_not_found"


async def test_an_internal_file_never_reaches_the_requesters_socket(
    chat_server: ChatServer, desk: Desk
) -> None:
    requester = await chat_server.client(desk.requester_token)
    await requester.send(type="subscribe", ticket_id=desk.ticket.id)
    await requester.expect("subscribed")
    agent = await chat_server.client(desk.agent_token)
    png = await _upload(chat_server, desk.agent_token, desk.ticket.id)
    await agent.send(
        type="message",
        ticket_id=desk.ticket.id,
        body="internal log",
        visibility="internal",
        client_msg_id="i1",
        attachments=[png["id"]],
    )
    await agent.expect("ack", client_msg_id="i1")
    await agent.send(type="message", ticket_id=desk.ticket.id, body="public", client_msg_id="p1")
    await requester.expect("message")  # the public one, after the internal one
    seen = [f for f in requester.received if f.get("type") == "message"]
    assert [f["message"]["body"] for f in seen] == ["public"]
    assert all(not f["message"]["attachments"] for f in seen)
