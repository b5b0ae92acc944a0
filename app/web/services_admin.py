"""Admin pages for IT services: list them with their current status, add and edit them.

The same operations and validation as the API (`app.status.service`); a refused field is
shown next to the field.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.deps import Session
from app.kit.errors import AppError
from app.status import repository as status_repo
from app.status import service as status_service
from app.status.schemas import ServiceCreate, ServiceOut, ServiceUpdate
from app.web.context import Viewer, render, staff_viewer

router = APIRouter(prefix="/admin/services", include_in_schema=False)
EXPIRED = "The form expired; try again."


def field_errors(exc: ValidationError) -> dict[str, str]:
    """One message per form field (the first), as people read it."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        errors.setdefault(field, str(error["msg"]).removeprefix("Value error, "))
    return errors


def _fields(form: dict[str, str]) -> dict[str, Any]:
    return {
        "name": form.get("name", ""),
        "group": form.get("group", "").strip(),
        "description": form.get("description", "").strip(),
        "visibility": form.get("visibility", ""),
    }


async def _list(
    request: Request,
    session: Session,
    current: Viewer,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    services = await status_service.services_for(session, user=current.user)
    return render(
        request,
        "admin/services.html",
        current,
        status_code=status_code,
        services=sorted(services, key=lambda s: (s.group.lower(), s.position, s.name.lower())),
        form=form or {},
        errors=errors or {},
        notice=notice,
    )


async def _edit_page(
    request: Request,
    session: Session,
    current: Viewer,
    found: ServiceOut,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/service.html",
        current,
        status_code=status_code,
        service=found,
        form=form
        or {
            "name": found.name,
            "group": found.group,
            "description": found.description,
            "visibility": found.visibility,
        },
        errors=errors or {},
        notice=notice,
    )


async def _service(session: Session, slug: str) -> ServiceOut | None:
    found = await status_repo.service_by_slug(session, slug)
    if found is None:
        return None
    statuses = await status_service.derived_statuses(session, [found], "internal")
    return status_service.service_out(found, statuses[found.id], staff=True)


@router.get("", response_model=None)
async def services_page(request: Request, session: Session) -> Response:
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    return await _list(request, session, current)


@router.post("", response_model=None)
async def add_service(request: Request, session: Session) -> Response:
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not hmac.compare_digest(form.pop("csrf", ""), current.csrf):
        return await _list(
            request, session, current, form=form, errors={"form": EXPIRED}, status_code=403
        )
    try:
        data = ServiceCreate.model_validate({"slug": form.get("slug", "").strip(), **_fields(form)})
        async with session.begin_nested():
            created = await status_service.do_create_service(session, data=data)
    except ValidationError as exc:
        return await _list(
            request, session, current, form=form, errors=field_errors(exc), status_code=422
        )
    except AppError as exc:
        field = "slug" if exc.code == "service_exists" else "form"
        return await _list(
            request,
            session,
            current,
            form=form,
            errors={field: exc.message},
            status_code=exc.status_code,
        )
    return await _list(request, session, current, notice=f"Added {created.name}.")


@router.get("/{slug}", response_model=None)
async def service_page(
    request: Request, slug: str, session: Session, saved: bool = False
) -> Response:
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    found = await _service(session, slug)
    if found is None:
        return render(request, "not_found.html", current, status_code=404)
    return await _edit_page(request, session, current, found, notice="Saved." if saved else None)


@router.post("/{slug}", response_model=None)
async def edit_service(request: Request, slug: str, session: Session) -> Response:
    current = await staff_viewer(request, session, admin=True)
    if not isinstance(current, Viewer):
        return current
    found = await _service(session, slug)
    if found is None:
        return render(request, "not_found.html", current, status_code=404)
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not hmac.compare_digest(form.pop("csrf", ""), current.csrf):
        return await _edit_page(
            request, session, current, found, form=form, errors={"form": EXPIRED}, status_code=403
        )
    try:
        data = ServiceUpdate.model_validate(_fields(form))
        async with session.begin_nested():
            await status_service.do_update_service(session, slug=slug, data=data)
    except ValidationError as exc:
        return await _edit_page(
            request, session, current, found, form=form, errors=field_errors(exc), status_code=422
        )
    except AppError as exc:
        return await _edit_page(
            request,
            session,
            current,
            found,
            form=form,
            errors={"form": exc.message},
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/admin/services/{slug}?saved=1", 303)
