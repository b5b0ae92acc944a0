"""Rooms of this process: one bus subscription per ticket with local subscribers, fan-out.

A frame arrives once per process (from the bus), already serialized; the hub decides its
recipients once (everyone, or staff only for internal content) and appends the same text
to each recipient's bounded queue. Nothing here waits on a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat import frames, repository
from app.chat.limits import ChatLimits, SendRateLimiter
from app.chat.writer import MessageWriter
from app.kit.errors import Unavailable
from app.realtime.bus import Bus, Envelope, FeedLost
from app.realtime.connection import SLOW_CONSUMER, SLOW_REASON, Connection, WireFrame
from app.tickets import repository as tickets_repository

log = logging.getLogger(__name__)
ROOM_READY_TIMEOUT = 5.0
FEED_LOST = 1011
PROBE = "hub_probe"

Buffered = tuple[WireFrame, str, str, int | None]  # frame, visibility, type, id for dedup


@dataclass(eq=False)
class Subscription:
    """One socket in one room; frames wait in `pending` until its backlog has gone out."""

    conn: Connection
    ticket_id: int
    pending: list[Buffered] | None = field(default_factory=list)

    def deliver(self, frame: WireFrame, visibility: str, kind: str, ident: int | None) -> None:
        if self.pending is None:
            self.conn.send(frame, visibility, self.ticket_id)
        elif len(self.pending) < self.conn.queue_limit:
            self.pending.append((frame, visibility, kind, ident))
        else:  # as far behind as a full queue: the same remedy, never a silent drop
            self.conn.disconnect(SLOW_CONSUMER, SLOW_REASON)

    def release(self, last_message_id: int | None, last_event_id: int | None) -> None:
        """Send what arrived during the backlog read, minus what the backlog already had."""
        pending, self.pending = self.pending or [], None
        for frame, visibility, kind, ident in pending:
            seen = last_message_id if kind == "message" else last_event_id
            if ident is not None and seen is not None and ident <= seen:
                continue
            self.conn.send(frame, visibility, self.ticket_id)


class Room:
    def __init__(self, ticket_id: int) -> None:
        self.ticket_id = ticket_id
        self.channel = f"ticket:{ticket_id}"
        self.everyone: dict[Connection, Subscription] = {}
        self.staff: dict[Connection, Subscription] = {}
        self.ready = asyncio.Event()
        self.nonce = secrets.token_hex(8)
        self.task: asyncio.Task[None] | None = None

    def add(self, sub: Subscription) -> None:
        self.everyone[sub.conn] = sub
        if sub.conn.is_staff:
            self.staff[sub.conn] = sub

    def remove(self, conn: Connection) -> None:
        self.everyone.pop(conn, None)
        self.staff.pop(conn, None)


@dataclass(eq=False)
class Inbox:
    """A user's live notifications in this process: one bus subscription, all their sockets."""

    user_id: int
    connections: set[Connection] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


class ChatHub:
    """Per-process state of live chat: rooms, sockets, the batched writer, rate limits."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        bus: Bus,
        limits: ChatLimits | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.bus = bus
        self.limits = limits or ChatLimits()
        self.limiter = SendRateLimiter(self.limits.send_rate, self.limits.send_burst)
        self.writer = MessageWriter(sessionmaker, bus, max_attachments=self.limits.max_attachments)
        self.rooms: dict[int, Room] = {}
        self.inboxes: dict[int, Inbox] = {}
        self.connections: set[Connection] = set()

    def connect(self, conn: Connection) -> None:
        """A new socket: it hears its user's notifications from now on."""
        self.connections.add(conn)
        inbox = self.inboxes.get(conn.user_id)
        if inbox is None:
            inbox = self.inboxes[conn.user_id] = Inbox(conn.user_id)
            inbox.task = asyncio.create_task(self._inbox(inbox), name="chat-inbox")
        inbox.connections.add(conn)

    async def join(self, conn: Connection, ticket_id: int) -> Subscription:
        """Add `conn` to the ticket's room, live on the bus before this returns."""
        room = self.rooms.get(ticket_id)
        if room is None:
            room = self.rooms[ticket_id] = Room(ticket_id)
            room.task = asyncio.create_task(self._feed(room), name=f"chat-room-{ticket_id}")
        self.leave(conn, ticket_id, close_empty=False)
        sub = Subscription(conn, ticket_id)
        room.add(sub)
        conn.subscriptions.add(ticket_id)
        try:
            await asyncio.wait_for(room.ready.wait(), ROOM_READY_TIMEOUT)
        except TimeoutError:
            self.leave(conn, ticket_id)
            raise Unavailable("the live feed is not available; retry") from None
        return sub

    def leave(self, conn: Connection, ticket_id: int, *, close_empty: bool = True) -> None:
        conn.subscriptions.discard(ticket_id)
        room = self.rooms.get(ticket_id)
        if room is None:
            return
        room.remove(conn)
        if close_empty and not room.everyone:
            del self.rooms[ticket_id]
            if room.task is not None:
                room.task.cancel()

    def disconnect(self, conn: Connection) -> None:
        """Forget a socket that has gone."""
        for ticket_id in list(conn.subscriptions):
            self.leave(conn, ticket_id)
        self.connections.discard(conn)
        inbox = self.inboxes.get(conn.user_id)
        if inbox is not None:
            inbox.connections.discard(conn)
            if not inbox.connections:
                del self.inboxes[conn.user_id]
                if inbox.task is not None:
                    inbox.task.cancel()

    async def _inbox(self, inbox: Inbox) -> None:
        """`notification` frames (ids only) from bus channel user:{id} to the user's sockets."""
        try:
            async with self.bus.subscribe(f"user:{inbox.user_id}") as feed:
                async for envelope in feed:
                    ident = envelope.get("id")
                    if envelope.get("type") != "notification" or not isinstance(ident, int):
                        continue
                    # One frame, encoded once, for every socket of the user.
                    frame = WireFrame(frames.dumps({"type": "notification", "id": ident}))
                    for conn in tuple(inbox.connections):
                        conn.send(frame)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log_feed_failure(exc, "live inbox of user %s", inbox.user_id)
            _feed_lost(inbox.connections)
            if self.inboxes.get(inbox.user_id) is inbox:
                del self.inboxes[inbox.user_id]

    async def close(self) -> None:
        tasks = [room.task for room in self.rooms.values() if room.task is not None]
        tasks += [inbox.task for inbox in self.inboxes.values() if inbox.task is not None]
        self.rooms.clear()
        self.inboxes.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.writer.close()

    async def _feed(self, room: Room) -> None:
        try:
            async with self.bus.subscribe(room.channel) as feed:
                # A probe through the bus proves the subscription is live before any
                # backlog is read, so nothing committed afterwards can be missed.
                await self.bus.publish(room.channel, {"type": PROBE, "nonce": room.nonce})
                async for envelope in feed:
                    await self._dispatch(room, envelope)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log_feed_failure(exc, "live feed of ticket %s", room.ticket_id)
            _feed_lost(room.everyone)
            if self.rooms.get(room.ticket_id) is room:
                del self.rooms[room.ticket_id]

    async def _dispatch(self, room: Room, envelope: Envelope) -> None:
        kind = envelope.get("type")
        if kind == frames.CHAT_ENVELOPE:
            self.fan_out(room, envelope)
        elif kind == "ticket_event":
            try:
                await self._ticket_event(room, envelope)
            except Exception:
                log.exception("ticket event %s not relayed", envelope.get("event_id"))
        elif kind == PROBE and envelope.get("nonce") == room.nonce:
            room.ready.set()

    def fan_out(self, room: Room, envelope: Envelope) -> None:
        """One decision per frame: internal goes to the staff list, the rest to everyone."""
        text = envelope.get("text")
        if not isinstance(text, str):
            return
        # Anything not plainly public is treated as internal: fail closed.
        visibility = "public" if envelope.get("visibility") == "public" else "internal"
        targets = room.everyone if visibility == "public" else room.staff
        ident = envelope.get("message_id")
        frame, ticket_id = WireFrame(text), room.ticket_id
        for sub in tuple(targets.values()):
            if sub.pending is None:  # the common case, inlined: this loop is the hot path
                sub.conn.send(frame, visibility, ticket_id)
            else:
                sub.deliver(frame, visibility, "message", ident)

    async def _ticket_event(self, room: Room, envelope: Envelope) -> None:
        """A timeline entry from the sync engine, read once and shown as a system entry."""
        event_id = envelope.get("event_id")
        if not isinstance(event_id, int):
            return
        async with self.sessionmaker() as session:
            event = await repository.get_timeline_entry(session, event_id)
            if event is None or event.ticket_id != room.ticket_id:
                return
            # The ticket may have changed hands: end users keep only what they may see.
            for conn in [c for c in room.everyone if not c.is_staff]:
                if await tickets_repository.get_visible(session, conn.user, room.ticket_id) is None:
                    self._revoke(conn, room.ticket_id)
            frame = WireFrame(frames.dumps(frames.ticket_event_frame(event)))
            visibility = "public" if event.visibility == "public" else "internal"
        targets = room.everyone if visibility == "public" else room.staff
        for sub in tuple(targets.values()):
            sub.deliver(frame, visibility, "ticket_event", event_id)

    def _revoke(self, conn: Connection, ticket_id: int) -> None:
        conn.visible_tickets.discard(ticket_id)
        self.leave(conn, ticket_id)
        conn.send_frame({"type": "unsubscribed", "ticket_id": ticket_id, "reason": "not_found"})


def _log_feed_failure(exc: Exception, what: str, ident: int) -> None:
    if isinstance(exc, FeedLost):
        # Expected when Redis restarts, and already logged once by the bus: no traceback.
        log.info(what + " lost its feed; its sockets resume", ident)
    else:
        log.error(what + " failed", ident, exc_info=exc)


def _feed_lost(connections: Iterable[Connection]) -> None:
    """Close sockets whose live feed broke: they reconnect and resume with `since`, so
    nothing is lost, only delayed."""
    for conn in tuple(connections):
        conn.disconnect(FEED_LOST, "live feed lost; reconnect and resume with since")


def get_hub(app: FastAPI | Any) -> ChatHub:
    """The app's hub, made on first use from its runtime (and `app.state.chat_limits`)."""
    hub = getattr(app.state, "chat_hub", None)
    if hub is None:
        limits = getattr(app.state, "chat_limits", None)
        settings = getattr(app.state, "settings", None)
        if limits is None and settings is not None:
            limits = ChatLimits(max_attachments=settings.attachments_per_message)
        hub = ChatHub(app.state.sessionmaker, app.state.bus, limits)
        app.state.chat_hub = hub
    return hub


async def close_hub(app: FastAPI) -> None:
    """Stop the hub's tasks at shutdown (if it was ever used)."""
    hub = getattr(app.state, "chat_hub", None)
    if hub is not None:
        await hub.close()
        app.state.chat_hub = None
