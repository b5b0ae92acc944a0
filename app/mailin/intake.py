"""Where mail comes in (the SMTP listener and the IMAP poller): one transaction per mail.

`receive` returns only after the message is committed (or refused), so the SMTP listener
answers 250, and the IMAP poller marks a mail seen, only then; an error (the database is
down) propagates, and the mail is offered again later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import discard_after_commit, unit_of_work
from app.kit.clock import utcnow
from app.mailin.addresses import ReplyAddresses
from app.mailin.service import MailFiles, MailOutcome, do_accept_reply
from app.realtime.bus import Bus

log = logging.getLogger("socialdesk.mailin")


@dataclass
class MailIntake:
    sessionmaker: async_sessionmaker[AsyncSession]
    bus: Bus
    addresses: ReplyAddresses
    max_bytes: int
    # Where attachments of replies go; None: they are skipped, with a note in the message.
    files: MailFiles | None = None

    async def receive(
        self,
        raw: bytes,
        *,
        envelope_sender: str | None = None,
        envelope_recipients: tuple[str, ...] = (),
        source: str = "mail",
    ) -> MailOutcome:
        async with unit_of_work(self.sessionmaker) as session:
            outcome = await do_accept_reply(
                session,
                raw,
                addresses=self.addresses,
                bus=self.bus,
                max_bytes=self.max_bytes,
                now=utcnow(),
                envelope_sender=envelope_sender,
                envelope_recipients=envelope_recipients,
                files=self.files,
            )
            if outcome.refused is not None:
                await session.rollback()  # nothing of a refused mail is kept
                discard_after_commit(session)
        if outcome.refused is not None:
            log.warning("%s refused: %s", source, outcome.refused)
        elif outcome.created:
            log.info(
                "%s stored as chat message %s on ticket %s",
                source,
                outcome.chat_message_id,
                outcome.ticket_id,
            )
        else:
            log.info("%s already stored (chat message %s)", source, outcome.chat_message_id)
        return outcome
