"""The saved replies page for staff: list, add, change and delete them."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.deps import Session
from app.kit.errors import AppError
from app.kit.ids import Id
from app.models.saved_reply import BODY_MAX_CHARS, TITLE_MAX_CHARS
from app.saved_replies import repository, service
from app.saved_replies.placeholders import PLACEHOLDERS
from app.saved_replies.schemas import SavedReplyCreate, SavedReplyOut, SavedReplyUpdate
from app.web.context import Viewer, render, staff_viewer

router = APIRouter(include_in_schema=False)

# Which form field an error of the service is about.
_ERROR_FIELDS = {"unknown_placeholder": "body", "empty_body": "body", "title_taken": "title"}


async def _page(
    request: Request,
    session: Session,
    current: Viewer,
    *,
    editing: SavedReplyOut | None = None,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    rows = await repository.list_visible(session, current.user, shared=None, after=None, limit=200)
    replies = sorted(
        (service.reply_out(current.user, reply, name) for reply, name in rows),
        key=lambda r: r.title.lower(),
    )
    if form is None and editing is not None:
        form = {"title": editing.title, "body": editing.body, "shared": editing.shared}
    return render(
        request,
        "saved_replies.html",
        current,
        replies=replies,
        editing=editing,
        form=form or {},
        errors=errors or {},
        notice=notice,
        placeholders=PLACEHOLDERS,
        title_max=TITLE_MAX_CHARS,
        body_max=BODY_MAX_CHARS,
        status_code=status_code,
    )


def _form_errors(exc: ValidationError | AppError) -> dict[str, str]:
    if isinstance(exc, AppError):
        return {_ERROR_FIELDS.get(exc.code, "form"): exc.message}
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        limit = TITLE_MAX_CHARS if field == "title" else BODY_MAX_CHARS
        errors.setdefault(
            field, f"1 to {limit:,} characters{' on one line' if field == 'title' else ''}."
        )
    return errors


async def _submitted(request: Request, current: Viewer) -> dict[str, Any] | None:
    """The form's fields, or None when its CSRF token is wrong."""
    raw = await request.form()
    if not hmac.compare_digest(str(raw.get("csrf", "")), current.csrf):
        return None
    return {
        "title": str(raw.get("title", "")),
        "body": str(raw.get("body", "")).replace("\r\n", "\n"),
        "shared": raw.get("shared") == "yes",
    }


@router.get("/saved-replies", response_model=None)
async def replies_page(request: Request, session: Session) -> Response:
    current = await staff_viewer(request, session)
    if not isinstance(current, Viewer):
        return current
    return await _page(request, session, current)


@router.post("/saved-replies", response_model=None)
async def add_reply(request: Request, session: Session) -> Response:
    current = await staff_viewer(request, session)
    if not isinstance(current, Viewer):
        return current
    form = await _submitted(request, current)
    if form is None:
        expired = {"form": "The form expired; try again."}
        return await _page(request, session, current, errors=expired, status_code=403)
    try:
        async with session.begin_nested():  # a refused save leaves nothing behind
            reply = await service.do_create_reply(
                session, owner=current.user, data=SavedReplyCreate.model_validate(form)
            )
    except (ValidationError, AppError) as exc:
        status = exc.status_code if isinstance(exc, AppError) else 422
        errors = _form_errors(exc)
        return await _page(request, session, current, form=form, errors=errors, status_code=status)
    return await _page(request, session, current, notice=f"Saved “{reply.title}”.")


@router.get("/saved-replies/{reply_id}", response_model=None)
async def edit_page(request: Request, reply_id: Id, session: Session) -> Response:
    current = await staff_viewer(request, session)
    if not isinstance(current, Viewer):
        return current
    try:
        reply, owner = await service.check_reply_editable(
            session, user=current.user, reply_id=reply_id
        )
    except AppError:  # unseen, or someone else's shared reply: nothing to edit here
        return render(request, "not_found.html", current, status_code=404)
    editing = service.reply_out(current.user, reply, owner)
    return await _page(request, session, current, editing=editing)


@router.post("/saved-replies/{reply_id}", response_model=None)
async def change_reply(request: Request, reply_id: Id, session: Session) -> Response:
    current = await staff_viewer(request, session)
    if not isinstance(current, Viewer):
        return current
    form = await _submitted(request, current)
    if form is None:
        return RedirectResponse(f"/saved-replies/{reply_id}", 303)
    try:
        async with session.begin_nested():
            reply, owner = await service.do_update_reply(
                session,
                user=current.user,
                reply_id=reply_id,
                data=SavedReplyUpdate.model_validate(form),
            )
    except (ValidationError, AppError) as exc:
        if isinstance(exc, AppError) and exc.status_code in (403, 404):
            return render(request, "not_found.html", current, status_code=404)
        found, owner = await service.check_reply_editable(
            session, user=current.user, reply_id=reply_id
        )
        editing = service.reply_out(current.user, found, owner)
        status = exc.status_code if isinstance(exc, AppError) else 422
        return await _page(
            request,
            session,
            current,
            editing=editing,
            form=form,
            errors=_form_errors(exc),
            status_code=status,
        )
    return await _page(request, session, current, notice=f"Saved “{reply.title}”.")


@router.post("/saved-replies/{reply_id}/delete", response_model=None)
async def delete_reply(request: Request, reply_id: Id, session: Session) -> Response:
    current = await staff_viewer(request, session)
    if not isinstance(current, Viewer):
        return current
    form = await _submitted(request, current)
    if form is not None:
        try:
            async with session.begin_nested():
                reply, _ = await service.check_reply_editable(
                    session, user=current.user, reply_id=reply_id
                )
                title = reply.title
                await service.do_delete_reply(session, user=current.user, reply_id=reply_id)
        except AppError:
            return render(request, "not_found.html", current, status_code=404)
        return await _page(request, session, current, notice=f"Deleted “{title}”.")
    return RedirectResponse("/saved-replies", 303)
