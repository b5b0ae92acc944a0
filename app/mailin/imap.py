"""Replies read from a mailbox (SOCIALDESK_IMAP_URL), for desks whose mail server cannot forward.

Each pass takes the unseen mails of the folder one by one: fetched without marking them
(BODY.PEEK), handed to the intake, and flagged \\Seen only after they were committed or
refused; a mail whose storing failed stays unseen and is taken again on the next pass.
Between passes the poller waits in IDLE when the server offers it (the server says when
mail arrives) and otherwise sleeps `poll_seconds`; IDLE is renewed every two minutes (RFC
2177 allows 29), each renewal a pass of its own, so a mail that slipped in between the
last pass and the start of IDLE waits two minutes at most. Two workers reading one
mailbox store each mail once: its Message-ID is the chat message's idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aioimaplib

from app.mailin.intake import MailIntake

log = logging.getLogger("socialdesk.mailin")
_PORTS = {"imap": 143, "imaps": 993}


@dataclass(frozen=True, slots=True)
class Mailbox:
    host: str
    port: int
    tls: bool
    user: str
    password: str
    folder: str

    @classmethod
    def from_url(cls, url: str) -> Mailbox:
        """`imaps://user:password@host[:port]/Folder`; the folder defaults to INBOX."""
        parts = urlsplit(url)
        if parts.scheme not in _PORTS:
            raise ValueError("SOCIALDESK_IMAP_URL must start with imaps:// or imap://")
        if not parts.hostname or not parts.username:
            raise ValueError("SOCIALDESK_IMAP_URL needs a user and a host: imaps://user:pw@host")
        return cls(
            host=parts.hostname,
            port=parts.port or _PORTS[parts.scheme],
            tls=parts.scheme == "imaps",
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
        )


class ImapError(Exception):
    """The server said no (login, select, fetch), or the connection broke."""


class ImapPoller:
    def __init__(
        self,
        intake: MailIntake,
        mailbox: Mailbox,
        *,
        poll_seconds: float = 60,
        idle_seconds: float = 120,
    ) -> None:
        self.intake = intake
        self.mailbox = mailbox
        self.poll_seconds = poll_seconds
        self.idle_seconds = idle_seconds

    async def run(self, stop: asyncio.Event) -> None:
        """Read the mailbox until `stop`; a broken connection is reopened after a pause."""
        while not stop.is_set():
            try:
                await self._session(stop)
            except (ImapError, aioimaplib.AioImapException, OSError, TimeoutError) as exc:
                log.warning("IMAP %s: %s; reconnecting", self.mailbox.host, exc)
            except Exception:
                log.exception("IMAP poller failed; restarting")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(self.poll_seconds, 10))

    async def _connect(self) -> aioimaplib.IMAP4:
        box = self.mailbox
        client: aioimaplib.IMAP4 = (
            aioimaplib.IMAP4_SSL(box.host, box.port)
            if box.tls
            else aioimaplib.IMAP4(box.host, box.port)
        )
        await client.wait_hello_from_server()
        _ok(await client.login(box.user, box.password), "login")
        _ok(await client.select(box.folder), f"select {box.folder}")
        return client

    async def _session(self, stop: asyncio.Event) -> None:
        client = await self._connect()
        try:
            while not stop.is_set():
                # Until a pass finds nothing: mail that came in meanwhile is taken now, so
                # IDLE starts with nothing unseen left behind.
                while await self.take_unseen(client) and not stop.is_set():
                    pass
                await self._wait_for_mail(client, stop)
        finally:
            with contextlib.suppress(Exception):
                await client.logout()

    async def take_unseen(self, client: aioimaplib.IMAP4) -> int:
        """Hand every unseen mail to the intake; the number taken (stored or refused)."""
        found = _ok(await client.uid_search("UNSEEN"), "search")
        uids = [uid for line in found.lines[:1] for uid in line.split()]
        taken = 0
        for uid in uids:
            uid_text = uid.decode() if isinstance(uid, bytes) else str(uid)
            fetched = _ok(await client.uid("fetch", uid_text, "(BODY.PEEK[])"), "fetch")
            raw = next((bytes(x) for x in fetched.lines if isinstance(x, bytearray)), None)
            if raw is None:
                continue  # expunged meanwhile
            if len(raw) > self.intake.max_bytes:
                log.warning(
                    "IMAP mail %s refused: larger than %s bytes", uid_text, self.intake.max_bytes
                )
            else:
                # Raises when it cannot be stored: the mail stays unseen for the next pass.
                await self.intake.receive(raw, source=f"IMAP mail {uid_text}")
            _ok(await client.uid("store", uid_text, "+FLAGS", "(\\Seen)"), "store")
            taken += 1
        return taken

    async def _wait_for_mail(self, client: aioimaplib.IMAP4, stop: asyncio.Event) -> None:
        if not client.has_capability("IDLE"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
            return
        idle = await client.idle_start(timeout=self.idle_seconds)
        stopping = asyncio.ensure_future(stop.wait())
        pushed = asyncio.ensure_future(client.wait_server_push(timeout=self.idle_seconds + 5))
        try:
            await asyncio.wait({stopping, pushed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            pushed.cancel()
            client.idle_done()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle, timeout=10)


def _ok(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        detail = b" ".join(x for x in response.lines if isinstance(x, bytes))[:200]
        raise ImapError(f"{what} refused: {detail.decode(errors='replace')}")
    return response
