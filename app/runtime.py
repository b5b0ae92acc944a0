"""Everything a process holds for its lifetime: engine, sessions, bus, keys, workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.chat.events import ChatNotifier
from app.chat.service import CHAT_NOTIFY_QUEUE
from app.chat.writeback import WRITEBACK_QUEUE, WritebackWorker
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.files.collect import AttachmentSweeper
from app.files.store import BlobStore, blob_store
from app.kit import wakeups
from app.kit.attempts import AttemptLimits
from app.kit.secrets import SecretBox
from app.mailin.addresses import reply_addresses
from app.mailin.imap import ImapPoller, Mailbox
from app.mailin.intake import MailIntake
from app.mailin.service import MailFiles
from app.mailin.smtp import start_listener
from app.outbox.enqueue import OUTBOX_QUEUE
from app.outbox.relay import RelaySettings
from app.outbox.worker import build_relay
from app.policy.operations.retention import DecisionPruner
from app.realtime.bus import Bus, create_bus
from app.sync.closing import ClosingCommentWorker
from app.sync.instances import new_http_client
from app.sync.worker import SyncWorker
from app.wiring import wire_domains

log = logging.getLogger(__name__)
# How often a woken loop also looks on its own: for a lost wake-up, and for work that
# becomes due by time (retries, delayed deliveries, digests).
SAFETY_POLL_SECONDS = 5.0


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine | None
    sessionmaker: async_sessionmaker[AsyncSession]
    bus: Bus
    box: SecretBox
    http: httpx.AsyncClient
    # Sign-in and subscription allowances, shared through Redis when there is one.
    attempts: AttemptLimits = field(default_factory=AttemptLimits)
    # Where attachment bytes live (SOCIALDESK_FILES_URL); made from the settings if not given.
    files: BlobStore | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _servers: list[asyncio.Server] = field(default_factory=list)

    def __post_init__(self) -> None:
        wakeups.use_bus(self.bus)  # commits in this process wake the workers (any process)
        if self.files is None:
            self.files = blob_store(self.settings.files_location)

    @property
    def blobs(self) -> BlobStore:
        assert self.files is not None  # set by __post_init__
        return self.files

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        wire_domains()
        engine = create_engine(settings)
        bus = create_bus(settings.redis_url)
        await bus.connect()
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            bus=bus,
            box=SecretBox(settings.require_secret_key()),
            http=new_http_client(),
            attempts=AttemptLimits(settings.redis_url),
        )

    def start_workers(self) -> None:
        """Sync (and later delivery) workers, as tasks of this process."""
        # Loops sleep until a commit gives them work; the tick is only a safety net.
        listener = wakeups.WakeListener()
        self._tasks.append(
            asyncio.create_task(listener.run(self.bus, self._stop), name="wake-listener")
        )
        worker = SyncWorker(
            self.sessionmaker, self.bus, self.box, tick=self.settings.sync_tick_seconds
        )
        self._tasks.append(asyncio.create_task(worker.run(self._stop), name="sync-worker"))
        # chat (issue 5): write chat messages back to their tickets, retried with backoff.
        writeback = WritebackWorker(
            self.sessionmaker,
            self.box,
            self.http,
            files=self.blobs,  # public messages' files travel to the ticket (WRITE_FILES)
            tick=SAFETY_POLL_SECONDS,
            wake=listener.event(WRITEBACK_QUEUE),
        )
        self._tasks.append(asyncio.create_task(writeback.run(self._stop), name="chat-writeback"))
        # chat.message -> policy decisions -> outbox rows, off the chat write path.
        notifier = ChatNotifier(
            self.sessionmaker,
            follow_on_comment=self.settings.follow_on_comment,
            tick=SAFETY_POLL_SECONDS,
            wake=listener.event(CHAT_NOTIFY_QUEUE),
        )
        # status (issue 7): resolving an incident writes a closing comment to linked tickets.
        closing = ClosingCommentWorker(
            self.sessionmaker, self.box, self.http, base_url=self.settings.base_url
        )
        self._tasks.append(
            asyncio.create_task(closing.run(self._stop), name="status-closing-comments")
        )
        self._tasks.append(asyncio.create_task(notifier.run(self._stop), name="chat-notifier"))
        # notifications (issue 6): the delivery relay sends the outbox on every channel.
        relay = build_relay(
            self.settings,
            self.sessionmaker,
            self.bus,
            self.box,
            self.http,
            relay_settings=RelaySettings(
                poll_interval=SAFETY_POLL_SECONDS,
                lease=timedelta(seconds=self.settings.outbox_lease_seconds),
            ),
            wake=lambda: listener.event(OUTBOX_QUEUE),
        )
        self._tasks.append(asyncio.create_task(relay.run(self._stop), name="delivery-relay"))
        # policy: decisions past the retention period are deleted, in chunks, every hour.
        pruner = DecisionPruner(
            self.sessionmaker, retention_days=self.settings.decision_retention_days
        )
        self._tasks.append(asyncio.create_task(pruner.run(self._stop), name="decision-retention"))
        # files (issue 16): rows of deleted messages, day-old unattached uploads, their blobs.
        sweeper = AttachmentSweeper(self.sessionmaker, self.blobs)
        self._tasks.append(asyncio.create_task(sweeper.run(self._stop), name="attachment-sweeper"))

        # mail-in (issue 16): replies read from a mailbox, when one is configured.
        intake = self.mail_intake()
        if intake is not None and self.settings.imap_url is not None:
            mailbox = Mailbox.from_url(self.settings.imap_url.get_secret_value())
            poller = ImapPoller(intake, mailbox)
            self._tasks.append(asyncio.create_task(poller.run(self._stop), name="mail-in-imap"))

    def mail_intake(self) -> MailIntake | None:
        """Where replies by e-mail go in; None when SOCIALDESK_REPLY_DOMAIN is unset."""
        addresses = reply_addresses(self.settings)
        if addresses is None:
            return None
        files = MailFiles(
            self.blobs,
            max_bytes=self.settings.attachment_max_bytes,
            per_message=self.settings.attachments_per_message,
        )
        return MailIntake(
            self.sessionmaker,
            self.bus,
            addresses,
            max_bytes=self.settings.mail_in_max_bytes,
            files=files,
        )

    async def start_mail_listener(self, host: str, port: int) -> asyncio.Server:
        """The SMTP listener for replies, closed with the runtime."""
        intake = self.mail_intake()
        if intake is None:
            raise RuntimeError("set SOCIALDESK_REPLY_DOMAIN to the domain replies are sent to")
        server = await start_listener(intake, host, port)
        self._servers.append(server)
        return server

    async def wait(self) -> None:
        await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        self._stop.set()
        for server in self._servers:
            server.close()
            await server.wait_closed()
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*self._tasks), timeout=10)
        await self.http.aclose()
        wakeups.forget_bus(self.bus)
        await self.attempts.close()
        await self.blobs.close()
        await self.bus.disconnect()
        if self.engine is not None:
            await self.engine.dispose()
