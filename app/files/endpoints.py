"""Attachments over HTTP: upload to a ticket, download under the message's visibility."""

from __future__ import annotations

from typing import Annotated, cast
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response, status
from starlette.datastructures import UploadFile

from app.auth.permissions import CurrentUser
from app.deps import AppSettings, Session
from app.files import service
from app.files.schemas import AttachmentOut, attachment_json
from app.files.sniffing import INLINE_TYPES
from app.files.store import BlobStore
from app.kit.errors import InvalidInput, NotFound
from app.kit.ids import Id
from app.realtime.hub import get_hub

router = APIRouter(prefix="/api/v1", tags=["attachments"])
# Room for the multipart framing and the filename around the file itself.
_FORM_OVERHEAD = 64 * 1024
# A file we serve can never run as a page of ours, whatever it turns out to contain.
_SANDBOX = "sandbox; default-src 'none'"


def get_files(request: Request) -> BlobStore:
    return cast(BlobStore, request.app.state.files)


Files = Annotated[BlobStore, Depends(get_files)]


@router.post(
    "/tickets/{ticket_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                }
            },
        }
    },
)
async def upload_attachment(
    ticket_id: Id,
    request: Request,
    session: Session,
    files: Files,
    settings: AppSettings,
    user: CurrentUser,
) -> AttachmentOut:
    """Store one file (form field `file`) for a later message of yours on this ticket."""
    # Uploads draw on the same per-user send budget as messages (429 rate_limited).
    get_hub(request.app).limiter.check(user.id)
    limit = settings.attachment_max_bytes
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        # Without a length the form parser would spool any amount to disk before we could
        # refuse it; browsers and HTTP libraries send one for a form with a file.
        raise service.LengthRequired("send the upload with a Content-Length")
    if int(declared) > limit + _FORM_OVERHEAD:
        raise service.AttachmentTooLarge(
            f"the file is larger than {limit} bytes", details={"max_bytes": limit}
        )
    async with request.form(max_files=1, max_fields=5) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("send the file as the multipart form field `file`")
        data = await upload.read(limit + 1)
        filename = upload.filename
    attachment = await service.do_upload(
        session,
        files,
        user=user,
        ticket_id=ticket_id,
        filename=filename,
        data=data,
        max_bytes=limit,
    )
    return AttachmentOut.model_validate(attachment_json(service.summary(attachment)))


@router.get("/attachments/{attachment_id}", response_class=Response)
async def download_attachment(
    request: Request, attachment_id: Id, session: Session, files: Files, user: CurrentUser
) -> Response:
    """The file, if you may read its message (404 otherwise, like a missing file)."""
    attachment = await service.check_attachment_readable(
        session, user=user, attachment_id=attachment_id
    )
    scope = getattr(request.state, "ticket_scope", None)
    if scope is not None and scope != attachment.ticket_id:
        raise NotFound("attachment not found")  # a link session reaches its ticket only
    data = await service.read_blob(files, attachment)
    disposition = "inline" if attachment.content_type in INLINE_TYPES else "attachment"
    return Response(
        content=data,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(attachment.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": _SANDBOX,
            "Cache-Control": "private, max-age=3600",
            "Cross-Origin-Resource-Policy": "same-origin",
        },
    )
