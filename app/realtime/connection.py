"""One authenticated socket: its user, what it may receive, and how frames reach it.

Fan-out only ever calls `send`, which never blocks and never raises: a slow client
cannot stall anyone. `send` is also the egress door for live chat: every frame passes
`guard_egress` here.

Under uvicorn's sans-I/O WebSocket protocol (what `socialdesk serve` runs) a frame is
encoded once, whoever it goes to, and written straight to each socket's transport (the
frames a socket gets in one loop iteration in one write): the transport's buffer is the
per-socket queue, bounded in bytes. Anywhere else (another
server, Starlette's test client) frames wait in a bounded queue drained by one task per
socket through the ASGI `send`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any

from starlette.types import Send
from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

from app.models import User
from app.policy.guard.egress import (
    ContentVisibility,
    InternalContentLeak,
    destination_is_internal,
    guard_egress,
)

log = logging.getLogger(__name__)
SLOW_CONSUMER = 1013  # "try again later": reconnect and subscribe with `since`
SLOW_REASON = "slow consumer: too far behind; resume with since"
CLOSE_TIMEOUT = 10.0
# The ASGI scope key under which `ExposeServerSend` leaves the server's own `send`.
SERVER_SEND = "socialdesk.server_send"


class WireFrame:
    """A serialized frame; encoded for the wire at most once, however many get it."""

    __slots__ = ("_wire", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._wire: bytes | None = None

    def wire(self) -> bytes:
        # Server frames are not masked (RFC 6455 5.1), so the bytes are the same for
        # every socket without extensions.
        if self._wire is None:
            self._wire = Frame(Opcode.TEXT, self.text.encode()).serialize(mask=False)
        return self._wire


class ExposeServerSend:
    """ASGI middleware: keep the server's `send` of each WebSocket in its scope.

    Middleware and exception handlers wrap `send`; the direct path needs the server's.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[SERVER_SEND] = send
        await self.app(scope, receive, send)


def direct_protocol(websocket: WebSocket) -> WebSocketsSansIOProtocol | None:
    """uvicorn's protocol object behind this socket when frames may bypass ASGI."""
    protocol = getattr(websocket.scope.get(SERVER_SEND), "__self__", None)
    if not isinstance(protocol, WebSocketsSansIOProtocol):
        return None
    # A negotiated extension (compression) transforms frames per socket: no shared bytes.
    if protocol.conn.extensions:
        return None
    return protocol


class Connection:
    """Frames for one socket; `send` never blocks and never raises."""

    def __init__(
        self,
        websocket: WebSocket,
        user: User,
        *,
        queue_frames: int,
        buffer_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.websocket = websocket
        self.user = user
        self.user_id = user.id
        self.role = user.role.value
        self.is_staff = user.role.is_staff
        self._internal_destination = destination_is_internal(
            "in_app", self.role, marked_internal=False
        )
        # The egress verdict per content visibility, for a ticket this user may see: it
        # depends only on the role and this destination, so it is decided once.
        self._egress: dict[str, str] = {}
        # Tickets this user was found allowed to see (re-checked on ticket changes).
        self.visible_tickets: set[int] = set()
        # Set when a ticket link opened the session: the only ticket this socket may reach.
        self.ticket_scope: int | None = None
        self.subscriptions: set[int] = set()
        self.in_flight = 0
        self.last_typing: dict[tuple[int, str], float] = {}
        self.closed = False
        self.queue_limit = queue_frames
        self.buffer_limit = buffer_bytes
        self._protocol = direct_protocol(websocket)
        self._corked: list[bytes] = []  # direct frames not yet written (see `send`)
        self._corked_bytes = 0
        self._loop = asyncio.get_running_loop()
        self._queue: deque[str] = deque()
        self._ready = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        if self._protocol is None:
            self._writer = asyncio.create_task(self._write_loop())
        self._closer: asyncio.Task[None] | None = None

    def send(
        self, frame: WireFrame | str, visibility: str = "public", ticket_id: int | None = None
    ) -> bool:
        """Send a serialized frame if this user may have it; False when it was not sent.

        The fan-out calls this once per recipient and message: it is kept flat on purpose.
        """
        if self.closed:
            return False
        content: ContentVisibility = "public" if visibility == "public" else "internal"
        refusal = self._egress.get(content)
        if refusal is None:
            refusal = self._decide_egress(content)
        if refusal or (ticket_id is not None and ticket_id not in self.visible_tickets):
            reason = refusal or "the recipient may not see this ticket"
            log.error("refused a frame to user %s on the socket: %s", self.user_id, reason)
            return False
        if isinstance(frame, str):
            frame = WireFrame(frame)
        protocol = self._protocol
        if protocol is None:
            return self._enqueue(frame.text)
        transport = protocol.transport
        if transport.is_closing() or protocol.close_sent:
            return False  # the peer went away; the receive loop notices and cleans up
        if transport.get_write_buffer_size() + self._corked_bytes > self.buffer_limit:
            self.disconnect(SLOW_CONSUMER, SLOW_REASON)
            return False
        # Corked until the end of this loop iteration: a batch that gives this socket
        # several frames costs one send() instead of one each (send() was a third of the
        # server's time flat out).
        if not self._corked:
            self._loop.call_soon(self._uncork)
        wire = frame.wire()
        self._corked.append(wire)
        self._corked_bytes += len(wire)
        return True

    def _uncork(self) -> None:
        """Write what `send` corked, in one call, unless the socket is closing."""
        corked, self._corked, self._corked_bytes = self._corked, [], 0
        protocol = self._protocol
        if not corked or protocol is None:  # nothing corked (a close uncorks too)
            return
        transport = protocol.transport
        if transport.is_closing() or protocol.close_sent:
            return
        transport.write(corked[0] if len(corked) == 1 else b"".join(corked))

    def send_frame(
        self, frame: dict[str, Any], visibility: str = "public", ticket_id: int | None = None
    ) -> bool:
        return self.send(
            json.dumps(frame, separators=(",", ":"), default=str), visibility, ticket_id
        )

    def _decide_egress(self, content: ContentVisibility) -> str:
        """The guard's verdict for this socket ("" = allowed), remembered."""
        try:
            guard_egress(
                content,
                self.role,
                self._internal_destination,
                None,
                may_see_ticket=True,
                channel="in_app",
            )
            verdict = ""
        except InternalContentLeak as exc:
            verdict = exc.reason or "refused"
        self._egress[content] = verdict
        return verdict

    def _enqueue(self, text: str) -> bool:
        if len(self._queue) >= self.queue_limit:
            self.disconnect(SLOW_CONSUMER, SLOW_REASON)
            return False
        self._queue.append(text)
        self._ready.set()
        return True

    def disconnect(self, code: int, reason: str) -> None:
        """Stop sending and close the socket with `code` and `reason` (once)."""
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        if self._writer is not None:
            self._writer.cancel()
        self._closer = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        # The close frame waits behind what the client has not read yet; a client that
        # reads nothing at all is left to the keepalive timeout.
        self._uncork()  # nothing may follow the close frame
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.websocket.close(code, reason), CLOSE_TIMEOUT)

    async def aclose(self) -> None:
        """Release the writer (and wait for a pending close) when the socket is done."""
        self.closed = True
        if self._writer is not None:
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
