"""Real receivers on loopback, run on the test's event loop: an SMTP server and an HTTP server.

`SmtpSink` is aiosmtpd's SMTP protocol with a handler that parses each mail. `HttpReceiver`
is a small HTTP/1.1 server (keep-alive, Content-Length bodies) that records every request
and answers with scripted status codes; `verify_standard_webhook` checks a signature the
way the Standard Webhooks reference does, independently of the code under test.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP


class SmtpSink:
    """Receives mail on 127.0.0.1; `messages` are parsed EmailMessages, in arrival order."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.messages: list[EmailMessage] = []
        self.delay = delay
        # Called with the number of mails received, before the 250 answer goes back.
        self.on_message: Callable[[int], None] | None = None
        # Recipient address -> the refusal the server answers to RCPT TO ("450 ...").
        self.refuse: dict[str, str] = {}
        self.refused: list[str] = []  # every refused RCPT TO, in order
        self._server: asyncio.Server | None = None

    async def handle_RCPT(
        self, _server: Any, _session: Any, envelope: Any, address: str, _options: Any
    ) -> str:
        if address in self.refuse:
            self.refused.append(address)
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        if self.on_message is not None:
            self.on_message(len(self.messages))
        return "250 OK"

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(self), "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"smtp://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """Records requests; `status` decides each answer (default 200), `delay` slows it."""

    status: Callable[[Request], int] = lambda _request: 200
    delay: float = 0.0
    requests: list[Request] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):  # keep-alive connections still open
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line.strip():
                    break
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = raw.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                request = Request(method, path, headers, body)
                self.requests.append(request)
                if self.delay:
                    await asyncio.sleep(self.delay)
                status = self.status(request)
                writer.write(f"HTTP/1.1 {status} Status\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


def verify_standard_webhook(secret: str, request: Request) -> bool:
    """The Standard Webhooks check: HMAC-SHA256 over `{id}.{timestamp}.{body}`, base64, v1."""
    key = (
        base64.b64decode(secret.removeprefix("whsec_"))
        if secret.startswith("whsec_")
        else secret.encode()
    )
    msg_id = request.headers["webhook-id"]
    timestamp = request.headers["webhook-timestamp"]
    signed = f"{msg_id}.{timestamp}.".encode() + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.split(",", 1)[1] for s in request.headers["webhook-signature"].split(" ")]
    return any(hmac.compare_digest(expected, g) for g in given)
