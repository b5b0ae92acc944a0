"""E-mail over SMTP (aiosmtplib): HTML and text parts, the ticket link, one-click unsubscribe.

The Message-ID is derived from the delivery's idempotency key, so a mail resent after a
crash (sent, but not yet recorded as sent) carries the same Message-ID and receiving
systems can drop the duplicate. A small pool of SMTP connections is kept open between
sends; a broken one is dropped and a new one opened on the next send.

SOCIALDESK_SMTP_URL: `smtp://[user:password@]host[:port]` (plain, port 25),
`smtp+starttls://...` (STARTTLS, port 587) or `smtps://...` (TLS, port 465).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from typing import ClassVar
from urllib.parse import unquote, urlsplit

import aiosmtplib

from app.kit.clock import utcnow
from app.notifications.channels import ChannelBase, DeliveryResult
from app.notifications.content import OutboundMessage, check_egress, render_html, render_text

_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


def sender_domain(base_url: str) -> str:
    """The domain mails come from: BASE_URL's host, or `localhost` for an IP or bare name."""
    host = urlsplit(base_url).hostname or "localhost"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host if "." in host else "localhost"
    return "localhost"


def message_id(idempotency_key: str, domain: str) -> str:
    """A stable Message-ID for a delivery: the same on every resend."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    return f"<sd.{digest}@{domain}>"


def build_email(message: OutboundMessage, *, sender: str, domain: str) -> MIMEMultipart:
    """The MIME message: text and HTML alternatives and the list headers of RFC 2369/8058."""
    # The compat32 MIME classes: a third of the CPU of EmailMessage's header registry,
    # which at 10,000 mails is most of the sending time.
    mail = MIMEMultipart("alternative")
    mail["From"] = sender
    mail["To"] = formataddr((message.recipient_name, message.recipient_email), charset="utf-8")
    subject = message.subject or "Socialdesk notification"
    mail["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = message_id(message.idempotency_key, domain)
    mail["Auto-Submitted"] = "auto-generated"
    if message.reply_to:
        mail["Reply-To"] = message.reply_to
    mail["X-Socialdesk-Delivery"] = message.idempotency_key.encode("ascii", "replace").decode()
    if message.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    text = render_text(message)
    if message.unsubscribe_url:
        text += f"\n\nStop these e-mails: {message.unsubscribe_url}"
    mail.attach(MIMEText(text, "plain", "utf-8"))
    mail.attach(MIMEText(render_html(message), "html", "utf-8"))
    return mail


def smtp_client(smtp_url: str, *, timeout: float = 30) -> aiosmtplib.SMTP:
    """An (unconnected) client for SOCIALDESK_SMTP_URL."""
    url = urlsplit(smtp_url)
    if url.scheme not in _PORTS:
        raise ValueError(f"SOCIALDESK_SMTP_URL scheme must be one of {', '.join(_PORTS)}")
    return aiosmtplib.SMTP(
        hostname=url.hostname or "localhost",
        port=url.port or _PORTS[url.scheme],
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        use_tls=url.scheme == "smtps",
        start_tls=url.scheme == "smtp+starttls",
        timeout=timeout,
    )


class EmailChannel(ChannelBase):
    key: ClassVar[str] = "email"
    # Who the mails are from: (display name, local part at BASE_URL's domain).
    sender_name: ClassVar[tuple[str, str]] = ("Socialdesk", "notifications")

    def __init__(
        self, smtp_url: str | None, *, base_url: str, pool_size: int = 4, timeout: float = 30
    ) -> None:
        self.smtp_url = smtp_url
        self.domain = sender_domain(base_url)
        name, local = self.sender_name
        self.sender = formataddr((name, f"{local}@{self.domain}"))
        self.concurrency = pool_size
        self.timeout = timeout
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()

    def _client(self) -> aiosmtplib.SMTP:
        assert self.smtp_url is not None
        return smtp_client(self.smtp_url, timeout=self.timeout)

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        check_egress(message)
        if not self.smtp_url:
            return DeliveryResult.failed("SOCIALDESK_SMTP_URL is not set")
        mail = build_email(message, sender=self.sender, domain=self.domain)
        reused = not self._idle.empty()
        client = self._idle.get_nowait() if reused else self._client()
        try:
            try:
                response = await self._send(client, mail)
            except aiosmtplib.SMTPServerDisconnected:
                if not reused:
                    raise
                # The server closed an idle pooled connection: once more on a fresh one.
                await _discard(client)
                client = self._client()
                response = await self._send(client, mail)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # Every recipient refused (one per mail): final only if every answer was 5xx.
            await _discard(client)
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"SMTP {r.code}: {r.message}" for r in exc.recipients)
            return DeliveryResult.failed(detail, permanent=bool(codes) and min(codes) >= 500)
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx is a final no from the server (unknown mailbox, ...): retrying cannot help.
            await _discard(client)
            detail = f"SMTP {exc.code}: {exc.message}"
            return DeliveryResult.failed(detail, permanent=exc.code >= 500)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await _discard(client)
            return DeliveryResult.failed(f"SMTP: {type(exc).__name__}: {exc}")
        self._idle.put_nowait(client)
        return DeliveryResult.sent(f"SMTP: {response}")

    @staticmethod
    async def _send(client: aiosmtplib.SMTP, mail: Message) -> str:
        if not client.is_connected:
            await client.connect()
        _errors, response = await client.send_message(mail)
        return response

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


class StatusEmailChannel(EmailChannel):
    """Mails to status page subscribers (`app.status.subscribers.mails` composes them)."""

    key: ClassVar[str] = "status_email"
    sender_name: ClassVar[tuple[str, str]] = ("IT service status", "status")


async def _discard(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        client.close()
