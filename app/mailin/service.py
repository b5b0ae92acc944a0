"""A reply by e-mail becomes a chat message, through the same path as one typed in the browser.

Nothing is stored for a refused mail, and the reason is logged: a sender who is not the
recipient the address was made for (a forwarded mail), a forged or expired address, a mail
no person wrote (auto-replies and bounces are answered by nothing, so no mail loops), an
oversized mail, or one with no new text. The same mail delivered twice (same Message-ID,
same sender) is stored once: the Message-ID is the message's idempotency key.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.chat.limits import MAX_ATTACHMENTS, MAX_BODY_CHARS
from app.chat.service import NewMessage, do_post_message, posted_message
from app.files.service import check_upload, clean_filename, do_store
from app.files.store import BlobStore
from app.kit.errors import AppError
from app.mailin.addresses import BadReplyAddress, ReplyAddresses
from app.mailin.parsing import MailFile, parse_mail
from app.models import User
from app.realtime.bus import Bus

log = logging.getLogger(__name__)
_CUT = "\n\n[…] (the rest of this reply is in the e-mail)"


@dataclass(frozen=True, slots=True)
class MailFiles:
    """Where a reply's attachments go, and the same limits as uploads in the browser."""

    store: BlobStore
    max_bytes: int
    per_message: int


@dataclass(frozen=True, slots=True)
class MailOutcome:
    """What became of one mail: the chat message it made, or why it was refused."""

    refused: str | None = None
    ticket_id: int | None = None
    chat_message_id: int | None = None
    created: bool = False  # False for a mail already stored (delivered twice)


async def do_accept_reply(
    session: AsyncSession,
    raw: bytes,
    *,
    addresses: ReplyAddresses,
    bus: Bus,
    max_bytes: int,
    now: datetime,
    envelope_sender: str | None = None,
    envelope_recipients: tuple[str, ...] = (),
    files: MailFiles | None = None,
) -> MailOutcome:
    """Store the reply in `raw` as a chat message, or say why not (nothing is stored then)."""
    if len(raw) > max_bytes:
        return MailOutcome(refused=f"larger than the limit of {max_bytes} bytes")
    mail = parse_mail(raw, envelope_sender=envelope_sender, envelope_recipients=envelope_recipients)
    if mail.automatic is not None:
        return MailOutcome(refused=f"not written by a person: {mail.automatic}")
    try:
        claims = addresses.find(mail.recipients, now=now)
    except BadReplyAddress as exc:
        return MailOutcome(refused=str(exc))
    if claims is None:
        return MailOutcome(refused="not addressed to a reply address")
    user = await session.get(User, claims.user_id)
    if user is None or not user.is_active:
        return MailOutcome(refused="the address's recipient no longer exists or is inactive")
    if mail.sender != user.email.lower():
        return MailOutcome(
            refused=f"sent by {mail.sender or 'nobody'}, not by the recipient the address "
            "was made for (a forwarded mail?)"
        )
    if not mail.text and not mail.files:
        return MailOutcome(refused="no new text above the quoted mail")
    identity = mail.message_id or hashlib.sha256(raw).hexdigest()
    key = "email:" + hashlib.sha256(identity.encode()).hexdigest()[:40]
    stored = await posted_message(session, author_id=user.id, client_msg_id=key)
    if stored is not None:  # delivered twice: the first one stands, its files were stored
        return MailOutcome(ticket_id=stored.ticket_id, chat_message_id=stored.id)
    ids, names, notes = await _store_files(
        session, files, mail.files, uploader_id=user.id, ticket_id=claims.ticket_id
    )
    body = _body(mail.text, names, notes)
    # An end user's reply is public; staff answering a public mail answer in public,
    # anything else they send by mail is an internal note.
    visibility = "public" if claims.public or not user.role.is_staff else "internal"
    post = NewMessage(user, claims.ticket_id, body, visibility, key, ids)
    try:
        outcome = await do_post_message(
            session, post, bus=bus, max_attachments=files.per_message if files else MAX_ATTACHMENTS
        )
    except AppError as exc:  # the ticket is gone, or no longer this person's to see
        return MailOutcome(refused=f"the ticket refused it: {exc.message}")
    assert outcome.message is not None
    return MailOutcome(
        ticket_id=claims.ticket_id, chat_message_id=outcome.message.id, created=outcome.created
    )


async def _store_files(
    session: AsyncSession,
    files: MailFiles | None,
    attached: tuple[MailFile, ...],
    *,
    uploader_id: int,
    ticket_id: int,
) -> tuple[tuple[int, ...], list[str], list[str]]:
    """Store the mail's allowed files: their ids and names, and a note for each skipped one.

    The files are checked as an upload in the browser would be; the ticket is checked by
    the post that follows (refused, the whole mail is rolled back).
    """
    ids: list[int] = []
    names: list[str] = []
    notes: list[str] = []
    for file in attached:
        name = clean_filename(file.filename)
        if files is None:
            notes.append(f"_(not attached: {name}: files by e-mail are not accepted here)_")
            continue
        if len(ids) >= files.per_message:
            notes.append(f"_(not attached: {name}: at most {files.per_message} files a message)_")
            continue
        try:
            content_type = check_upload(file.data, max_bytes=files.max_bytes)
        except AppError as exc:
            notes.append(f"_(not attached: {name}: {exc.message})_")
            continue
        stored = await do_store(
            session,
            files.store,
            uploader_id=uploader_id,
            ticket_id=ticket_id,
            filename=name,
            data=file.data,
            content_type=content_type,
        )
        ids.append(stored.id)
        names.append(stored.filename)
    return tuple(ids), names, notes


def _body(text: str, names: list[str], notes: list[str]) -> str:
    """The reply's text (or the names of its files), the skipped files' notes, cut to fit."""
    body = text or "\n".join(f"📎 {name}" for name in names)
    if notes:
        note = "\n\n" + "\n".join(notes)
        body = (body[: MAX_BODY_CHARS - len(note)] + note) if body else note.strip()
    if len(body) > MAX_BODY_CHARS:
        body = body[: MAX_BODY_CHARS - len(_CUT)] + _CUT
    return body
