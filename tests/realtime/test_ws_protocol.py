"""The /ws endpoint: authentication, framing, limits; refusals keep the socket usable."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.chat.limits import ChatLimits
from app.chat.socket import HANDLERS
from tests.chat.wsclient import ChatClient, ws_url

if TYPE_CHECKING:
    from tests.chat.live import ChatServer, Desk

pytest_plugins = ["tests.chat.live"]


async def _closed_with(url: str, first_frame: str | None = None) -> tuple[int, str]:
    async with connect(url, proxy=None, compression=None) as ws:
        if first_frame is not None:
            await ws.send(first_frame)
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""


class TestAuthentication:
    async def test_a_token_in_the_query_string(self, chat_server: ChatServer, desk: Desk) -> None:
        client = await chat_server.client(desk.agent_token)
        assert client.received[0]["user_id"] == desk.agent.id
        assert client.received[0]["role"] == "agent"

    async def test_a_token_in_the_first_frame(self, chat_server: ChatServer, desk: Desk) -> None:
        async with connect(ws_url(chat_server.url), proxy=None) as ws:
            await ws.send(json.dumps({"type": "auth", "token": desk.requester_token}))
            hello = json.loads(await ws.recv())
        assert hello["type"] == "authenticated"
        assert hello["user_id"] == desk.requester.id

    async def test_a_bearer_header(self, chat_server: ChatServer, desk: Desk) -> None:
        headers = {"Authorization": f"Bearer {desk.admin_token}"}
        async with connect(ws_url(chat_server.url), proxy=None, additional_headers=headers) as ws:
            assert json.loads(await ws.recv())["user_id"] == desk.admin.id

    @pytest.mark.parametrize(
        "first_frame",
        [
            json.dumps({"type": "subscribe", "ticket_id": 1}),
            json.dumps({"type": "auth", "token": "sd_not-a-token"}),
            "not json",
        ],
    )
    async def test_no_valid_token_closes_with_policy_violation(
        self, chat_server: ChatServer, first_frame: str
    ) -> None:
        code, reason = await _closed_with(ws_url(chat_server.url), first_frame)
        assert code == 1008
        assert reason

    async def test_a_bad_query_token_closes_with_policy_violation(
        self, chat_server: ChatServer
    ) -> None:
        code, reason = await _closed_with(ws_url(chat_server.url, "sd_wrong"))
        assert (code, reason) == (1008, "invalid or revoked token")

    async def test_silence_closes_after_the_auth_timeout(self, chat_server: ChatServer) -> None:
        chat_server.use_limits(ChatLimits(auth_timeout_seconds=0.2))
        code, _ = await _closed_with(ws_url(chat_server.url))
        assert code == 1008


class TestBadFrames:
    @pytest.fixture
    async def client(self, chat_server: ChatServer, desk: Desk) -> ChatClient:
        return await chat_server.client(desk.agent_token)

    async def test_invalid_json(self, client: ChatClient) -> None:
        await client.send_raw("{not json")
        assert (await client.expect("error"))["code"] == "invalid_json"
        await client.roundtrip()

    @pytest.mark.parametrize("frame", ["[1, 2]", '{"no": "type"}', '"text"'])
    async def test_not_a_frame(self, client: ChatClient, frame: str) -> None:
        await client.send_raw(frame)
        assert (await client.expect("error"))["code"] == "invalid_frame"
        await client.roundtrip()

    async def test_unknown_type_and_missing_fields(self, client: ChatClient) -> None:
        await client.send(type="dance", ref=7)
        assert (await client.expect("error", ref=7))["code"] == "unknown_type"
        await client.send(type="subscribe", ref="r")
        error = await client.expect("error", ref="r")
        assert error["code"] == "invalid_frame"
        assert "ticket_id" in error["message"]

    async def test_binary_frames(self, client: ChatClient) -> None:
        await client.send_raw(b"\x00\x01")
        assert (await client.expect("error"))["code"] == "unsupported_frame"
        await client.roundtrip()

    async def test_a_frame_over_64_kib_is_refused_and_the_socket_stays(
        self, client: ChatClient, desk: Desk
    ) -> None:
        frame = {"type": "message", "ticket_id": desk.ticket.id, "client_msg_id": "big"}
        await client.send(**frame, body="x" * (64 * 1024))
        error = await client.expect("error")
        assert error["code"] == "frame_too_large"
        assert "65536" in error["message"]
        # bytes count, not characters: 33,000 two-byte characters are over the limit
        await client.send_raw(json.dumps({**frame, "body": "é" * 33_000}, ensure_ascii=False))
        assert (await client.expect("error"))["code"] == "frame_too_large"
        await client.send(type="message", ticket_id=desk.ticket.id, body="ok", client_msg_id="ok")
        await client.expect("ack", client_msg_id="ok")

    async def test_a_body_over_10000_characters_is_refused(
        self, client: ChatClient, desk: Desk
    ) -> None:
        await client.send(
            type="message", ticket_id=desk.ticket.id, body="y" * 10_001, client_msg_id="long"
        )
        error = await client.expect("error", ref="long")
        assert error["code"] == "body_too_long"
        assert "10000" in error["message"]
        await client.send(
            type="message", ticket_id=desk.ticket.id, body="y" * 10_000, client_msg_id="max"
        )
        await client.expect("ack", client_msg_id="max")

    async def test_a_deeply_nested_frame_is_refused_and_the_socket_stays(
        self, client: ChatClient, desk: Desk
    ) -> None:
        # issue 15: 30,000 nested arrays (under 64 KiB) blew the decoder's recursion and
        # dropped the socket without a close frame
        await client.send_raw("[" * 30_000 + "]" * 30_000)
        error = await client.expect("error")
        assert error == {
            "type": "error",
            "code": "frame_too_deep",
            "message": "frames nest at most 16 levels deep",
        }
        nested: object = 1
        for _ in range(20):
            nested = {"x": nested}
        await client.send(type="ping", ref="deep", extra=nested)
        assert (await client.expect("error"))["code"] == "frame_too_deep"
        await client.roundtrip()
        await client.send(type="subscribe", ticket_id=desk.ticket.id)
        await client.expect("subscribed", ticket_id=desk.ticket.id)

    async def test_a_deeply_nested_first_frame_closes_as_unauthenticated(
        self, chat_server: ChatServer
    ) -> None:
        code, _ = await _closed_with(ws_url(chat_server.url), "{" * 30_000)
        assert code == 1008
        code, _ = await _closed_with(ws_url(chat_server.url), "[" * 30_000 + "]" * 30_000)
        assert code == 1008

    @pytest.mark.parametrize(
        "frame",
        [
            {"type": "subscribe", "ticket_id": 2**63},
            {"type": "subscribe", "ticket_id": 1, "since": 99999999999999999999999},
            {"type": "read", "ticket_id": 1, "message_id": 2**64},
            {"type": "typing", "ticket_id": -(2**63) - 1},
            {"type": "message", "ticket_id": 2**63, "body": "x", "client_msg_id": "c"},
        ],
    )
    async def test_ids_past_64_bits_are_invalid_fields(
        self, client: ChatClient, frame: dict[str, object]
    ) -> None:
        await client.send(**frame, ref="big")
        error = await client.expect("error", ref="big")
        assert error["code"] == "invalid_frame"
        await client.roundtrip()

    async def test_a_handler_that_fails_unexpectedly_answers_an_error_frame(
        self, client: ChatClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def broken(*_args: object) -> None:
            raise RuntimeError("secret internals")

        monkeypatch.setitem(HANDLERS, "typing", broken)
        await client.send(type="typing", ticket_id=1, ref="t")
        error = await client.expect("error", ref="t")
        assert error["code"] == "internal_error"
        assert "secret" not in error["message"]
        await client.roundtrip()

    async def test_an_empty_body_is_refused(self, client: ChatClient, desk: Desk) -> None:
        await client.send(type="message", ticket_id=desk.ticket.id, body="  ", client_msg_id="e")
        assert (await client.expect("error", ref="e"))["code"] == "empty_body"


async def test_ping_answers_pong(chat_server: ChatServer, desk: Desk) -> None:
    client = await chat_server.client(desk.requester_token)
    await client.send(type="ping", ref="t1")
    assert await client.expect("pong") == {"type": "pong", "ref": "t1"}


async def test_sending_too_fast_is_rate_limited_with_a_retry_hint(
    chat_server: ChatServer, desk: Desk
) -> None:
    chat_server.use_limits(ChatLimits(send_rate=1.0, send_burst=3))
    client = await chat_server.client(desk.agent_token)
    for n in range(4):
        await client.send(type="message", ticket_id=desk.ticket.id, body="x", client_msg_id=str(n))
    for n in range(3):
        await client.expect("ack", client_msg_id=str(n))
    limited = await client.expect("error", ref="3")
    assert limited["code"] == "rate_limited"
    assert 0 < limited["retry_after"] <= 1.0
    # the limit is per user: the same user on another socket waits too
    other = await chat_server.client(desk.agent_token)
    await other.send(type="message", ticket_id=desk.ticket.id, body="x", client_msg_id="o")
    assert (await other.expect("error", ref="o"))["code"] == "rate_limited"
    async with chat_server.http(desk.agent_token) as http:
        answer = await http.post(f"/api/v1/tickets/{desk.ticket.id}/messages", json={"body": "x"})
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "rate_limited"
    assert answer.json()["error"]["details"]["retry_after"] > 0


async def test_the_users_inbox_is_pushed_live_and_only_to_that_user(
    chat_server: ChatServer, desk: Desk
) -> None:
    import asyncio

    mine = await chat_server.client(desk.requester_token)
    other = await chat_server.client(desk.agent_token)
    await asyncio.sleep(0.1)  # the socket's inbox subscription starts with the connection
    await chat_server.runtime.bus.publish(
        f"user:{desk.requester.id}", {"type": "notification", "id": 42}
    )
    frame = await mine.expect("notification")
    assert frame["id"] == 42
    await other.send(type="ping")
    await other.expect("pong")
    assert not [f for f in other.received if f.get("type") == "notification"]
