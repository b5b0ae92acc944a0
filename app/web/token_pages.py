"""A person's API tokens for their own scripts: create (shown once), list, revoke."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.auth import repository, service
from app.auth.schemas import TokenCreate
from app.deps import Session
from app.kit.errors import AppError
from app.kit.ids import Id
from app.web.context import Viewer, render, to_login, viewer

router = APIRouter(include_in_schema=False)


async def _page(
    request: Request,
    session: Session,
    current: Viewer,
    *,
    created: str | None = None,
    error: str | None = None,
) -> Response:
    tokens = await repository.tokens_of(session, current.user.id)
    return render(
        request,
        "tokens.html",
        current,
        tokens=tokens,
        created=created,
        error=error,
        status_code=422 if error else (201 if created else 200),
    )


@router.get("/tokens", response_model=None)
async def tokens_page(request: Request, session: Session) -> Response:
    current = await viewer(request, session)
    if current is None:
        return to_login(request)
    return await _page(request, session, current)


@router.post("/tokens", response_model=None)
async def create_token(request: Request, session: Session) -> Response:
    current = await viewer(request, session)
    if current is None:
        return to_login(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not hmac.compare_digest(form.get("csrf", ""), current.csrf):
        return await _page(request, session, current, error="The form expired; try again.")
    days = form.get("expires_in_days", "90")
    try:
        body = TokenCreate.model_validate(
            {"name": form.get("name", ""), "expires_in_days": None if days == "never" else days}
        )
        async with session.begin_nested():
            _, secret = await service.do_create_personal_token(
                session, user=current.user, name=body.name, expires_in_days=body.expires_in_days
            )
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors())
        return await _page(request, session, current, error=problems)
    except AppError as exc:
        return await _page(request, session, current, error=exc.message)
    # The page with the secret is the answer to the POST itself (not a redirect): it is
    # shown this once and lives in no URL, history entry or log.
    return await _page(request, session, current, created=secret)


@router.post("/tokens/{token_id}/revoke", response_model=None)
async def revoke_token(request: Request, token_id: Id, session: Session) -> Response:
    current = await viewer(request, session)
    if current is None:
        return to_login(request)
    form = await request.form()
    if not hmac.compare_digest(str(form.get("csrf", "")), current.csrf):
        return await _page(request, session, current, error="The form expired; try again.")
    try:
        await service.do_revoke_token(session, user=current.user, token_id=token_id)
    except AppError:
        return render(request, "not_found.html", current, status_code=404)
    return RedirectResponse("/tokens", 303)
