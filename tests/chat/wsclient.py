"""A WebSocket client for tests: waits for the frames a test names and keeps the rest."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TIMEOUT = 5.0


class ChatClient:
    """A socket client that waits for the frames a test names and keeps the rest."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self._unread: list[dict[str, Any]] = []

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def _next(self, seconds: float) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), seconds))
        assert isinstance(frame, dict)
        self.received.append(frame)
        return frame

    async def expect(self, type_: str, seconds: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """The first frame of this type whose fields match (earlier unmatched ones kept).

        `body=` matches the body of the frame's message.
        """
        for i, frame in enumerate(self._unread):
            if _matches(frame, type_, match):
                del self._unread[i]
                return frame
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {type_} {match} frame; got {self.received[-10:]}")
            try:
                frame = await self._next(left)
            except TimeoutError:
                continue
            if _matches(frame, type_, match):
                return frame
            self._unread.append(frame)

    async def expect_none(self, type_: str, within: float = 0.5, **match: Any) -> None:
        """No such frame arrives within `within` seconds (other frames are kept)."""
        try:
            frame = await self.expect(type_, within, **match)
        except AssertionError:
            return
        raise AssertionError(f"unexpected frame {frame}")

    async def roundtrip(self) -> None:
        """Everything the server sent before this ping has arrived."""
        await self.send(type="ping", ref="sync")
        await self.expect("pong", ref="sync")

    async def close(self) -> None:
        await self.ws.close()


def _matches(frame: dict[str, Any], type_: str, match: dict[str, Any]) -> bool:
    if frame.get("type") != type_:
        return False
    for key, value in match.items():
        found = (frame.get("message") or {}).get("body") if key == "body" else frame.get(key)
        if found != value:
            return False
    return True


def ws_url(base_url: str, token: str | None = None) -> str:
    url = base_url.replace("http://", "ws://", 1) + "/ws"
    return url if token is None else f"{url}?token={token}"


async def open_client(base_url: str, token: str, **kwargs: Any) -> ChatClient:
    """An authenticated client (token in the query string)."""
    ws = await connect(ws_url(base_url, token), proxy=None, compression=None, **kwargs)
    client = ChatClient(ws)
    await client.expect("authenticated")
    return client
