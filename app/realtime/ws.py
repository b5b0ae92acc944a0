"""The `/ws` endpoint: authenticate, then read JSON frames and hand them to chat.

Close codes: 1008 when the socket is not authenticated (token by `?token=`, an
`Authorization: Bearer` header, or a first frame `{"type": "auth", "token"}`), 1013 for
a client too far behind (it resumes with `since`) and for an address with too many failed
authentications (SOCKET_AUTH_PER_ADDRESS), 1011 when the live feed is lost.
Every other refusal is an `error` frame and the socket stays usable: invalid or too
deeply nested JSON (`app.realtime.decoding`), invalid fields, and a frame whose handler
failed unexpectedly (`internal_error`, logged).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError

from app.auth import sessions
from app.auth.service import authenticate_token
from app.chat import frames
from app.chat.socket import HANDLERS, error_for
from app.db import unit_of_work
from app.kit.attempts import SOCKET_AUTH_PER_ADDRESS, AttemptLimits, TooManyAttempts
from app.kit.errors import AppError
from app.metrics.prometheus import WS_CONNECTIONS
from app.models import User
from app.realtime.connection import Connection
from app.realtime.decoding import FrameRefused, decode_frame
from app.realtime.hub import ChatHub, get_hub

log = logging.getLogger(__name__)
router = APIRouter(tags=["realtime"])
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013


@router.websocket("/ws")
async def chat_socket(websocket: WebSocket) -> None:
    hub = get_hub(websocket.app)
    # Accept first, so that a refusal is a close frame with a code the client can read.
    await websocket.accept()
    found = await _authenticate(websocket, hub)
    if found is None:
        return
    user, ticket_scope = found
    conn = Connection(
        websocket,
        user,
        queue_frames=hub.limits.send_queue_frames,
        buffer_bytes=hub.limits.send_buffer_bytes,
    )
    conn.ticket_scope = ticket_scope
    hub.connect(conn)
    conn.send_frame(
        {
            "type": "authenticated",
            "user_id": user.id,
            "role": user.role.value,
            "limits": {
                "max_frame_bytes": hub.limits.max_frame_bytes,
                "max_body_chars": hub.limits.max_body_chars,
            },
        }
    )
    WS_CONNECTIONS.inc()
    try:
        await _receive_loop(websocket, hub, conn)
    finally:
        WS_CONNECTIONS.dec()
        hub.disconnect(conn)
        await conn.aclose()


def _bearer(websocket: WebSocket) -> str | None:
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _first_frame_token(websocket: WebSocket, seconds: float) -> str | None:
    try:
        message = await asyncio.wait_for(websocket.receive(), seconds)
    except TimeoutError:
        return None
    try:
        data = decode_frame(message.get("text") or "")
    except FrameRefused:
        return None
    if isinstance(data, dict) and data.get("type") == "auth" and isinstance(data.get("token"), str):
        return str(data["token"])
    return None


async def _session_user(websocket: WebSocket, hub: ChatHub) -> tuple[User, int | None] | None:
    """The browser UI's session cookie, accepted only from our own pages.

    Browsers send cookies on cross-site WebSocket handshakes too, so the Origin must name
    this host (cross-site WebSocket hijacking).
    """
    cookie = websocket.cookies.get(sessions.COOKIE)
    origin = urlsplit(websocket.headers.get("origin", ""))
    if not cookie or not origin.netloc or origin.netloc != websocket.headers.get("host"):
        return None
    async with unit_of_work(hub.sessionmaker) as session:
        found = await sessions.lookup(session, cookie)
    return None if found is None else (found[0], found[1].scope_ticket_id)


async def _authenticate(websocket: WebSocket, hub: ChatHub) -> tuple[User, int | None] | None:
    """The socket's user, and the one ticket it may reach when a ticket link opened it."""
    token = websocket.query_params.get("token") or _bearer(websocket)
    if not token:
        found = await _session_user(websocket, hub)
        if found is not None:
            return found
    if not token:
        token = await _first_frame_token(websocket, hub.limits.auth_timeout_seconds)
    if not token:
        await websocket.close(
            POLICY_VIOLATION, "authentication required: ?token= or a first frame {type: auth}"
        )
        return None
    attempts: AttemptLimits = websocket.app.state.runtime.attempts
    address = websocket.client.host if websocket.client is not None else "unknown"
    try:
        await attempts.check(SOCKET_AUTH_PER_ADDRESS, address)
    except TooManyAttempts as exc:
        await websocket.close(TRY_AGAIN_LATER, f"{exc.message} (retry after {exc.retry_after} s)")
        return None
    async with unit_of_work(hub.sessionmaker) as session:
        user = await authenticate_token(session, token)
    if user is None:
        await attempts.record(SOCKET_AUTH_PER_ADDRESS, address)
        await websocket.close(POLICY_VIOLATION, "invalid or revoked token")
        return None
    return user, None


def _too_large(text: str, limit: int) -> bool:
    # Characters are at most 4 bytes: encode only when the length alone cannot decide.
    return len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit)


async def _receive_loop(websocket: WebSocket, hub: ChatHub, conn: Connection) -> None:
    limit = hub.limits.max_frame_bytes
    while not conn.closed:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            conn.send_frame(frames.error_frame("unsupported_frame", "send JSON text frames"))
        elif _too_large(text, limit):
            conn.send_frame(
                frames.error_frame("frame_too_large", f"frames are limited to {limit} bytes")
            )
        else:
            await _handle(hub, conn, text)


async def _handle(hub: ChatHub, conn: Connection, text: str) -> None:
    try:
        data = decode_frame(text)
    except FrameRefused as refused:
        conn.send_frame(frames.error_frame(refused.code, refused.message))
        return
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        conn.send_frame(frames.error_frame("invalid_frame", "a frame is an object with a type"))
        return
    handler = HANDLERS.get(data["type"])
    ref = _ref(data)
    if handler is None:
        conn.send_frame(
            frames.error_frame("unknown_type", f"unknown frame type {data['type']!r}", ref=ref)
        )
        return
    try:
        await handler(hub, conn, data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        conn.send_frame(frames.error_frame("invalid_frame", f"invalid fields: {fields}", ref=ref))
    except AppError as exc:
        extra: dict[str, Any] = {"ref": ref}
        if isinstance(data.get("ticket_id"), int):
            extra["ticket_id"] = data["ticket_id"]
        conn.send_frame(error_for(exc, **extra))
    except Exception:
        # Like an HTTP 500: this frame failed, the socket and its subscriptions go on.
        log.exception("unhandled error on a %r frame", data["type"])
        conn.send_frame(
            frames.error_frame("internal_error", "the frame could not be handled", ref=ref)
        )


def _ref(data: dict[str, Any]) -> Any:
    """What an error frame points back to: the client's ref, else its client_msg_id."""
    ref = data.get("ref")
    if ref is None:
        ref = data.get("client_msg_id")
    return ref if isinstance(ref, str | int) else None
