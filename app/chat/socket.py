"""Chat frames on the socket: subscribe, unsubscribe, message, typing, read, ping.

Each handler takes the hub, the connection and the decoded frame; refusals are raised as
`AppError`s, which the socket turns into `error` frames (the socket stays open).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from app.chat import frames
from app.chat.history import conversation_backlog
from app.chat.limits import SendRateLimited
from app.chat.schemas import (
    MessageFrame,
    PingFrame,
    ReadFrame,
    SubscribeFrame,
    TypingFrame,
    UnsubscribeFrame,
)
from app.chat.service import (
    NewMessage,
    PostOutcome,
    check_body,
    check_visibility_allowed,
    do_mark_read,
)
from app.db import unit_of_work
from app.kit.errors import AppError, InvalidInput, NotFound
from app.realtime.connection import Connection
from app.realtime.hub import ChatHub
from app.tickets.service import check_ticket_visible

Handler = Callable[[ChatHub, Connection, dict[str, Any]], Awaitable[None]]


async def ensure_visible(hub: ChatHub, conn: Connection, ticket_id: int) -> None:
    """Raise NotFound unless the user may see the ticket (remembered per socket)."""
    if ticket_id in conn.visible_tickets:
        return
    if conn.ticket_scope is not None and ticket_id != conn.ticket_scope:
        raise NotFound("ticket not found")  # a link session reaches its ticket only
    async with hub.sessionmaker() as session:
        await check_ticket_visible(session, user=conn.user, ticket_id=ticket_id)
    conn.visible_tickets.add(ticket_id)


async def on_subscribe(hub: ChatHub, conn: Connection, data: dict[str, Any]) -> None:
    frame = SubscribeFrame.model_validate(data)
    ticket_id = frame.ticket_id
    if (
        ticket_id not in conn.subscriptions
        and len(conn.subscriptions) >= hub.limits.max_subscriptions
    ):
        raise InvalidInput(
            f"at most {hub.limits.max_subscriptions} subscriptions per socket",
            code="too_many_subscriptions",
        )
    await ensure_visible(hub, conn, ticket_id)
    sub = await hub.join(conn, ticket_id)
    try:
        async with hub.sessionmaker() as session:
            backlog = await conversation_backlog(
                session,
                user=conn.user,
                ticket_id=ticket_id,
                since=frame.since,
                since_event=frame.since_event,
                limits=hub.limits,
                since_change=frame.since_change,
            )
    except BaseException:
        hub.leave(conn, ticket_id)
        raise
    conn.send_frame(backlog.subscribed_frame(ticket_id), backlog.visibility, ticket_id)
    sub.release(backlog.last_message_id, backlog.last_event_id)


async def on_unsubscribe(hub: ChatHub, conn: Connection, data: dict[str, Any]) -> None:
    frame = UnsubscribeFrame.model_validate(data)
    hub.leave(conn, frame.ticket_id)
    conn.send_frame({"type": "unsubscribed", "ticket_id": frame.ticket_id})


async def on_message(hub: ChatHub, conn: Connection, data: dict[str, Any]) -> None:
    frame = MessageFrame.model_validate(data)
    check_body(frame.body, hub.limits.max_body_chars)
    check_visibility_allowed(conn.user, frame.visibility)
    await ensure_visible(hub, conn, frame.ticket_id)
    wait = hub.limiter.retry_after(conn.user_id)
    if wait is None and conn.in_flight >= hub.limits.max_in_flight:
        wait = 1.0
    if wait is not None:
        raise SendRateLimited(
            f"too many messages; retry in {wait:.2f} s", details={"retry_after": wait}
        )
    conn.in_flight += 1
    if len(frame.attachments) > hub.limits.max_attachments:
        raise InvalidInput(
            f"at most {hub.limits.max_attachments} attachments per message",
            code="too_many_attachments",
            details={"max": hub.limits.max_attachments},
        )
    post = NewMessage(
        conn.user,
        frame.ticket_id,
        frame.body,
        frame.visibility,
        frame.client_msg_id,
        tuple(frame.attachments),
    )
    future = hub.writer.submit(post)
    future.add_done_callback(partial(_acknowledge, conn, frame))


def _acknowledge(
    conn: Connection, frame: MessageFrame, future: asyncio.Future[PostOutcome]
) -> None:
    """Ack once stored (a retried send acks the first message's id); else an error frame."""
    conn.in_flight -= 1
    if future.cancelled():
        return
    exc = future.exception()
    outcome = None if exc is not None else future.result()
    error = exc if outcome is None else outcome.error
    if error is not None or outcome is None or outcome.message is None:
        conn.send_frame(error_for(error, ref=frame.client_msg_id, ticket_id=frame.ticket_id))
        return
    conn.send_frame(
        {
            "type": "ack",
            "client_msg_id": frame.client_msg_id,
            "message_id": outcome.message.id,
            "ticket_id": frame.ticket_id,
            "duplicate": not outcome.created,
        }
    )


def error_for(exc: BaseException | None, **extra: Any) -> dict[str, Any]:
    """The error frame for a refusal; unexpected failures say only "retry"."""
    if isinstance(exc, AppError):
        if exc.details and isinstance(exc.details, dict) and "retry_after" in exc.details:
            extra["retry_after"] = exc.details["retry_after"]
        return frames.error_frame(exc.code, exc.message, **extra)
    return frames.error_frame(
        "unavailable", "the message could not be stored; retry with the same client_msg_id", **extra
    )


async def on_typing(hub: ChatHub, conn: Connection, data: dict[str, Any]) -> None:
    frame = TypingFrame.model_validate(data)
    check_visibility_allowed(conn.user, frame.visibility)
    await ensure_visible(hub, conn, frame.ticket_id)
    now = time.monotonic()
    key = (frame.ticket_id, frame.visibility)
    if now - conn.last_typing.get(key, 0.0) < hub.limits.typing_interval_seconds:
        return  # clients repeat typing on every key press; one relay per interval is enough
    conn.last_typing[key] = now
    relay = {
        "type": "typing",
        "ticket_id": frame.ticket_id,
        "user_id": conn.user_id,
        "name": conn.user.name,
        "visibility": frame.visibility,
    }
    await hub.bus.publish(
        f"ticket:{frame.ticket_id}", frames.chat_envelope(relay, frame.visibility)
    )


async def on_read(hub: ChatHub, conn: Connection, data: dict[str, Any]) -> None:
    frame = ReadFrame.model_validate(data)
    async with unit_of_work(hub.sessionmaker) as session:
        await do_mark_read(
            session,
            user=conn.user,
            ticket_id=frame.ticket_id,
            message_id=frame.message_id,
            bus=hub.bus,
        )


async def on_ping(hub: ChatHub, conn: Connection, data: dict[str, Any]) -> None:
    frame = PingFrame.model_validate(data)
    conn.send_frame({"type": "pong"} if frame.ref is None else {"type": "pong", "ref": frame.ref})


HANDLERS: dict[str, Handler] = {
    "subscribe": on_subscribe,
    "unsubscribe": on_unsubscribe,
    "message": on_message,
    "typing": on_typing,
    "read": on_read,
    "ping": on_ping,
}
