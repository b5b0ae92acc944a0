"""Operations on attachments: upload, attach to a message, read, discard.

Who may read a file follows its message: the ticket must be visible to the reader, and an
attachment of an internal message reaches staff only (a denied read is a 404, like a
missing file). Before it is on a message, a file is its uploader's alone.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.files import repository
from app.files.keys import blob_key
from app.files.sniffing import sniff
from app.files.store import BlobStore
from app.kit.clock import utcnow
from app.kit.errors import AppError, Conflict, InvalidInput, NotFound, Unavailable
from app.models import Attachment, ChatMessage, User
from app.tickets.service import check_ticket_visible
from connectors.base import FileToSend

log = logging.getLogger(__name__)
MAX_FILENAME = 200
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/<>:|?*]+')


class AttachmentTooLarge(AppError):
    status_code, code = 413, "attachment_too_large"


class LengthRequired(AppError):
    status_code, code = 411, "length_required"


class UnsupportedAttachment(AppError):
    status_code, code = 415, "unsupported_attachment_type"


def clean_filename(name: str | None) -> str:
    """A name safe to show and to put in a header: no path, no control characters."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    if len(name) > MAX_FILENAME:
        _, dot, ext = name.rpartition(".")
        keep = ext if dot and len(ext) <= 10 else ""
        name = name[: MAX_FILENAME - len(keep) - 1] + ("." + keep if keep else "")
    return name or "file"


def summary(attachment: Attachment) -> dict[str, Any]:
    """What a message carries of a file (app.files.schemas.attachment_json adds the URL)."""
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "size": attachment.size,
        "content_type": attachment.content_type,
    }


def check_upload(data: bytes, *, max_bytes: int) -> str:
    """The sniffed content type of an upload within the limits, or the refusal."""
    if len(data) > max_bytes:
        raise AttachmentTooLarge(
            f"the file is larger than {max_bytes} bytes", details={"max_bytes": max_bytes}
        )
    if not data:
        raise InvalidInput("the file is empty", code="empty_file")
    content_type = sniff(data)
    if content_type is None:
        raise UnsupportedAttachment(
            "this kind of file cannot be attached (images, PDF, plain text, ZIP and "
            "office documents can)"
        )
    return content_type


async def do_upload(
    session: AsyncSession,
    store: BlobStore,
    *,
    user: User,
    ticket_id: int,
    filename: str | None,
    data: bytes,
    max_bytes: int,
) -> Attachment:
    """Store an upload for a ticket the user may see; the blob is written before we return."""
    await check_ticket_visible(session, user=user, ticket_id=ticket_id)
    content_type = check_upload(data, max_bytes=max_bytes)
    return await do_store(
        session,
        store,
        uploader_id=user.id,
        ticket_id=ticket_id,
        filename=filename,
        data=data,
        content_type=content_type,
    )


async def do_store(
    session: AsyncSession,
    store: BlobStore,
    *,
    uploader_id: int,
    ticket_id: int,
    filename: str | None,
    data: bytes,
    content_type: str,
) -> Attachment:
    """The row and the blob, under the blob's lock: a collector that finds the row
    missing cannot delete the blob between our write and our commit."""
    sha256 = blob_key(data)
    await repository.lock_blob(session, sha256)
    attachment = Attachment(
        sha256=sha256,
        size=len(data),
        content_type=content_type,
        filename=clean_filename(filename),
        uploader_user_id=uploader_id,
        ticket_id=ticket_id,
    )
    session.add(attachment)
    await session.flush()
    try:
        await store.put(data)
    except Exception as exc:
        log.warning("file store refused a blob: %r", exc)
        raise Unavailable("the file store is unavailable; retry later") from exc
    return attachment


@dataclass(frozen=True)
class Postable:
    """A message's files, checked: their ids and their summaries, in the order given."""

    ids: tuple[int, ...]
    summaries: list[dict[str, Any]]


PostingRows = dict[int, tuple[Attachment, ChatMessage | None]]


async def rows_for_posting(session: AsyncSession, ids: Sequence[int]) -> PostingRows:
    """Every row a batch of posts names, locked (PostgreSQL) until the batch commits."""
    return await repository.for_posting(session, ids) if ids else {}


def check_attachable(
    rows: PostingRows,
    ids: Sequence[int],
    *,
    author_id: int,
    ticket_id: int,
    client_msg_id: str,
    taken: set[int],
    max_count: int,
) -> Postable:
    """The author's own unattached uploads of this ticket (or, for a retried send, the
    ones already on that very message); anything else is refused."""
    if len(ids) > max_count:
        raise InvalidInput(
            f"at most {max_count} attachments per message",
            code="too_many_attachments",
            details={"max": max_count},
        )
    if len(set(ids)) != len(ids):
        raise InvalidInput("an attachment is named twice", code="duplicate_attachment")
    summaries = []
    for attachment_id in ids:
        found = rows.get(attachment_id)
        if found is None or found[0].uploader_user_id != author_id:
            raise NotFound("attachment not found", code="attachment_not_found")
        attachment, message = found
        if attachment.ticket_id != ticket_id or attachment.discarded_at is not None:
            raise NotFound("attachment not found", code="attachment_not_found")
        retried = (
            message is not None
            and message.author_user_id == author_id
            and message.client_msg_id == client_msg_id
        )
        if (message is not None and not retried) or attachment_id in taken:
            raise Conflict("this file is already on a message", code="attachment_in_use")
        summaries.append(summary(attachment))
    taken.update(ids)
    return Postable(tuple(ids), summaries)


async def do_attach(session: AsyncSession, *, message_id: int, ids: Sequence[int]) -> None:
    """Put checked files on a stored message (their rows are locked by the check)."""
    claimed = await repository.claim(session, message_id=message_id, ids=ids)
    if claimed != len(ids):  # cannot happen under the lock; never attach half silently
        raise Conflict("a file was taken meanwhile; retry", code="attachment_in_use")


async def do_discard_for_message(session: AsyncSession, message_id: int) -> None:
    """A deleted message's files are discarded (the sweeper removes rows and blobs)."""
    await repository.discard_for_message(session, message_id, utcnow())


async def check_attachment_readable(
    session: AsyncSession, *, user: User, attachment_id: int
) -> Attachment:
    """The file if `user` may read it; otherwise it does not exist (404)."""
    found = await repository.with_message(session, attachment_id)
    missing = NotFound("attachment not found")
    if found is None or found[0].discarded_at is not None:
        raise missing
    attachment, message = found
    if message is None:
        if attachment.uploader_user_id != user.id:
            raise missing
    elif message.deleted_at is not None:
        raise missing
    elif message.visibility != "public" and not user.role.is_staff:
        raise missing  # fail closed: anything but an explicit "public" is staff-only
    try:
        await check_ticket_visible(session, user=user, ticket_id=attachment.ticket_id)
    except NotFound:
        raise missing from None
    return attachment


async def read_blob(store: BlobStore, attachment: Attachment) -> bytes:
    data = await store.get(attachment.sha256)
    if data is None:
        log.error("attachment %s: blob %s is missing", attachment.id, attachment.sha256)
        raise NotFound("attachment not found")
    return data


async def files_to_send(
    session: AsyncSession, store: BlobStore, *, message_id: int, order: Sequence[int] = ()
) -> tuple[list[FileToSend], list[Attachment]]:
    """A message's files as a connector reads them (bytes read from the store when sent),
    in `order` (attachment ids, as the message lists them), and those whose bytes are
    missing from the store (logged: they cannot be sent)."""
    ready: list[FileToSend] = []
    missing: list[Attachment] = []
    rank = {attachment_id: i for i, attachment_id in enumerate(order)}
    rows = await repository.on_message(session, message_id)
    for attachment in sorted(rows, key=lambda a: (rank.get(a.id, len(rank)), a.id)):
        if not await store.exists(attachment.sha256):
            log.error("attachment %s: blob %s is missing", attachment.id, attachment.sha256)
            missing.append(attachment)
            continue
        ready.append(
            FileToSend(
                filename=attachment.filename,
                content_type=attachment.content_type,
                size=attachment.size,
                sha256=attachment.sha256,
                content=_reader(store, attachment),
            )
        )
    return ready, missing


def _reader(store: BlobStore, attachment: Attachment) -> Callable[[], Awaitable[bytes]]:
    sha256, attachment_id = attachment.sha256, attachment.id  # no ORM object after the session

    async def read() -> bytes:
        data = await store.get(sha256)
        if data is None:
            log.error("attachment %s: blob %s is missing", attachment_id, sha256)
            raise NotFound("attachment not found")
        return data

    return read
