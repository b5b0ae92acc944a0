"""The SMTP listener (`socialdesk mail-in`): a mail server forwards replies to it.

aiosmtpd's protocol runs on our own event loop, next to the database engine and the bus.
Recipients that are not reply addresses of this desk are refused at RCPT (550), so the
listener is no open relay and a misrouted mail bounces at its sender's server. A mail is
answered 250 only after it is committed, or after it was refused and dropped (refusing a
forwarded mail or an auto-reply with a 5xx would make the sender's server bounce it, and
a bounce to an auto-reply is how mail loops start; the log says why it was dropped). Any
error on our side answers 451, and the sending server tries again later.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from app.mailin.intake import MailIntake

log = logging.getLogger("socialdesk.mailin")


class ReplyHandler:
    """aiosmtpd's handler hooks: RCPT checks the address's shape, DATA takes the mail in."""

    def __init__(self, intake: MailIntake) -> None:
        self.intake = intake

    async def handle_RCPT(
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, _options: Any
    ) -> str:
        if not self.intake.addresses.is_ours(address):
            return "550 5.1.1 not a reply address of this desk"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        peer = session.peer[0] if isinstance(session.peer, tuple) else session.peer
        try:
            await self.intake.receive(
                raw,
                envelope_sender=envelope.mail_from,
                envelope_recipients=tuple(envelope.rcpt_tos),
                source=f"SMTP mail from {peer}",
            )
        except Exception:
            log.exception("SMTP mail from %s could not be stored; asked to retry", peer)
            return "451 4.3.0 cannot store the mail now, try again later"
        return "250 OK"


async def start_listener(intake: MailIntake, host: str, port: int) -> asyncio.Server:
    """Listen on host:port; the returned server is closed by the caller."""
    handler = ReplyHandler(intake)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            data_size_limit=intake.max_bytes,
            hostname=intake.addresses.domain,
            ident="Socialdesk mail-in",
        ),
        host,
        port,
    )
    bound = server.sockets[0].getsockname()
    log.info("mail-in listening for replies on %s:%s", bound[0], bound[1])
    return server
