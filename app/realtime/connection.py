"""One authenticated socket: its user, a bounded queue of serialized frames, one writer.

The queue is what keeps a slow client from stalling anyone: fan-out only appends to it.
`send` is also the egress door for live chat: every frame passes `guard_egress` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any

from starlette.websockets import WebSocket

from app.models import User
from app.policy.egress import InternalContentLeak, destination_is_internal, guard_egress

log = logging.getLogger(__name__)
SLOW_CONSUMER = 1013  # "try again later": reconnect and subscribe with `since`
CLOSE_TIMEOUT = 10.0


class Connection:
    """Frames for one socket; `send` never blocks and never raises."""

    def __init__(self, websocket: WebSocket, user: User, *, queue_frames: int) -> None:
        self.websocket = websocket
        self.user = user
        self.user_id = user.id
        self.role = user.role.value
        self.is_staff = user.role.is_staff
        self._internal_destination = destination_is_internal(
            "in_app", self.role, marked_internal=False
        )
        # Tickets this user was found allowed to see (re-checked on ticket changes).
        self.visible_tickets: set[int] = set()
        self.subscriptions: set[int] = set()
        self.in_flight = 0
        self.last_typing: dict[tuple[int, str], float] = {}
        self.closed = False
        self.queue_limit = queue_frames
        self._queue: deque[str] = deque()
        self._ready = asyncio.Event()
        self._writer = asyncio.create_task(self._write_loop())
        self._closer: asyncio.Task[None] | None = None

    def send(self, text: str, visibility: str = "public", ticket_id: int | None = None) -> bool:
        """Queue a serialized frame if this user may have it; False when it was not sent."""
        if self.closed:
            return False
        try:
            guard_egress(
                "internal" if visibility != "public" else "public",
                self.role,
                self._internal_destination,
                None,
                may_see_ticket=ticket_id is None or ticket_id in self.visible_tickets,
                channel="in_app",
            )
        except InternalContentLeak as exc:
            log.error("refused a frame to user %s on the socket: %s", self.user_id, exc.reason)
            return False
        if len(self._queue) >= self.queue_limit:
            self.disconnect(SLOW_CONSUMER, "slow consumer: too far behind; resume with since")
            return False
        self._queue.append(text)
        self._ready.set()
        return True

    def send_frame(
        self, frame: dict[str, Any], visibility: str = "public", ticket_id: int | None = None
    ) -> bool:
        return self.send(
            json.dumps(frame, separators=(",", ":"), default=str), visibility, ticket_id
        )

    def disconnect(self, code: int, reason: str) -> None:
        """Stop sending and close the socket with `code` and `reason` (once)."""
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        self._writer.cancel()
        self._closer = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        # The close frame waits behind what the client has not read yet; a client that
        # reads nothing at all is left to the keepalive timeout.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.websocket.close(code, reason), CLOSE_TIMEOUT)

    async def aclose(self) -> None:
        """Release the writer (and wait for a pending close) when the socket is done."""
        self.closed = True
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._writer
        if self._closer is not None:
            with contextlib.suppress(Exception):
                await self._closer

    async def _write_loop(self) -> None:
        queue, ready, websocket = self._queue, self._ready, self.websocket
        try:
            while True:
                await ready.wait()
                ready.clear()
                while queue:
                    await websocket.send_text(queue.popleft())
        except asyncio.CancelledError:
            raise
        except Exception:
            # The peer went away; the receive loop notices and cleans up.
            self.closed = True
