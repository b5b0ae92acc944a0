"""A client that stops reading is cut off with a reason; the room never waits for it."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.chat.limits import ChatLimits
from tests.chat.wsclient import ChatClient, ws_url

if TYPE_CHECKING:
    from tests.chat.live import ChatServer, Desk

pytest_plugins = ["tests.chat.live"]
MESSAGES = 600
BODY = "x" * 8000


async def _stuck_client(url: str) -> ChatClient:
    """A client with a tiny receive window that reads nothing after subscribing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    ws = await connect(url, sock=sock, max_queue=1, proxy=None, compression=None)
    client = ChatClient(ws)
    await client.expect("authenticated")
    return client


async def _drain(client: ChatClient) -> list[dict[str, Any]]:
    """Read until the server closes the socket."""
    frames = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(client.ws.recv(), 20)))
    except ConnectionClosed:
        return frames


async def test_a_slow_consumer_is_disconnected_without_stalling_the_room(
    chat_server: ChatServer, desk: Desk
) -> None:
    chat_server.use_limits(
        ChatLimits(
            send_queue_frames=256,  # frames waiting while a subscribe reads its backlog
            # the socket's transport buffer (direct writes): above one writer batch of these
            # bodies (200 x 8 KB), so a burst is not lag
            send_buffer_bytes=4 * 1024 * 1024,
            send_rate=10_000,
            send_burst=10_000,
            max_in_flight=10_000,
            backlog_messages=1000,
        )
    )
    ticket_id = desk.ticket.id
    slow = await _stuck_client(ws_url(chat_server.url, desk.requester_token))
    fast = await chat_server.client(desk.agent2_token)
    for client in (slow, fast):
        await client.send(type="subscribe", ticket_id=ticket_id)
        await client.expect("subscribed")

    agent = await chat_server.client(desk.agent_token)
    for n in range(MESSAGES):
        await agent.send(type="message", ticket_id=ticket_id, body=BODY, client_msg_id=str(n))
    # the fast member gets everything while the slow one reads nothing at all
    got = [await fast.expect("message", seconds=20) for _ in range(MESSAGES)]
    for n in range(MESSAGES):
        await agent.expect("ack", client_msg_id=str(n))
    assert len({f["message"]["id"] for f in got}) == MESSAGES

    frames = await _drain(slow)
    assert slow.ws.close_code == 1013
    assert "resume with since" in (slow.ws.close_reason or "")
    seen = [f["message"]["id"] for f in frames if f.get("type") == "message"]
    assert len(seen) < MESSAGES

    # it resumes from the last id it saw (the backlog comes in pages that fit a frame)
    back = await chat_server.client(desk.requester_token)
    missed: list[int] = []
    last = max(seen, default=0)
    while True:
        await back.send(type="subscribe", ticket_id=ticket_id, since=last)
        subscribed = await back.expect("subscribed")
        missed += [f["message"]["id"] for f in subscribed["backlog"]]
        last = missed[-1] if missed else last
        if not subscribed["has_more"]:
            break
    assert seen + missed == sorted(f["message"]["id"] for f in got)
