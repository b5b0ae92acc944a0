"""The public face: /status (HTML), /status.json, feeds, stylesheet, e-mail subscriptions."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, cast

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.deps import AppSettings, Attempts, Session, client_address
from app.kit.attempts import SUBSCRIBE_PER_ADDRESS, SUBSCRIBE_PER_EMAIL, TooManyAttempts
from app.kit.clock import utcnow
from app.kit.errors import AppError, InvalidInput
from app.status import repository
from app.status.public.feeds import FeedFormat, feed_entries, render_feed
from app.status.public.page import (
    Version,
    follow_controls,
    render_json,
    render_message,
    render_page,
    render_unsubscribe_form,
    respond,
)
from app.status.public.view import build_view
from app.status.public.viewer import FeedViewer, StatusViewer
from app.status.schemas import SubscribeIn
from app.status.subscribers import service as subscribers
from app.web.timefmt import zone as timezone_of

router = APIRouter(tags=["status page"])

_CSS = (Path(__file__).resolve().parent / "static" / "status.css").read_bytes()
_CSS_ETAG = f'"{hashlib.sha256(_CSS).hexdigest()[:24]}"'
_FEED_TYPES: dict[FeedFormat, str] = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
}


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return cast(async_sessionmaker[AsyncSession], request.app.state.sessionmaker)


# The page, status.json and the feeds take no Session dependency: a cached rendering is
# served without a database session; one is opened only to render after a change.


@router.api_route("/status", methods=["GET", "HEAD"], response_class=Response)
async def status_page(request: Request, viewer: StatusViewer, settings: AppSettings) -> Response:
    """The status page: public content, plus employee content for a signed-in reader."""

    # Times in a signed-in reader's own zone; anonymous readers (and shared caches) get UTC.
    zone = viewer.timezone if viewer.user is not None else None

    async def render() -> bytes:
        async with _sessions(request)() as session:
            view = await build_view(
                session,
                viewer.audience,
                now=utcnow(),
                channel="status_page",
                zone=timezone_of(zone),
            )
            public = await repository.list_services(session, ["public"])
        return render_page(
            view,
            base_url=settings.base_url,
            subscribable=[(s.slug, s.name) for s in public],
            zone=zone,
        )

    return await respond(
        request,
        version=await Version.current(request.app.state),
        what="page",
        audience=viewer.audience,
        render=render,
        media_type="text/html; charset=utf-8",
        zone=zone,
        personal=None
        if viewer.user is None
        else follow_controls(csrf=viewer.csrf, follows=viewer.follows),
    )


@router.api_route("/status.json", methods=["GET", "HEAD"], response_class=Response)
async def status_json(request: Request, settings: AppSettings) -> Response:
    """A Statuspage-like summary; public content only, whoever asks."""
    version = await Version.current(request.app.state)

    async def render() -> bytes:
        async with _sessions(request)() as session:
            view = await build_view(session, "public", now=utcnow(), channel="status_page")
        return render_json(view, base_url=settings.base_url, updated_at=version.last_modified)

    return await respond(
        request,
        version=version,
        what="json",
        audience="public",
        render=render,
        media_type="application/json",
    )


async def _feed(request: Request, viewer: FeedViewer, base_url: str, kind: FeedFormat) -> Response:
    async def render() -> bytes:
        async with _sessions(request)() as session:
            entries = await feed_entries(session, viewer.audience)
        return render_feed(entries, kind=kind, base_url=base_url, audience=viewer.audience)

    return await respond(
        request,
        version=await Version.current(request.app.state),
        what=f"feed.{kind}",
        audience=viewer.audience,
        render=render,
        media_type=_FEED_TYPES[kind],
    )


@router.api_route("/status/feed.atom", methods=["GET", "HEAD"], response_class=Response)
async def atom_feed(request: Request, viewer: FeedViewer, settings: AppSettings) -> Response:
    """Atom: public updates; with `?token=<feed token>` employee updates as well."""
    return await _feed(request, viewer, settings.base_url, "atom")


@router.api_route("/status/feed.rss", methods=["GET", "HEAD"], response_class=Response)
async def rss_feed(request: Request, viewer: FeedViewer, settings: AppSettings) -> Response:
    """RSS: public updates; with `?token=<feed token>` employee updates as well."""
    return await _feed(request, viewer, settings.base_url, "rss")


@router.get("/status/static/status.css", response_class=Response)
async def stylesheet(request: Request) -> Response:
    headers = {"ETag": _CSS_ETAG, "Cache-Control": "public, max-age=86400"}
    if request.headers.get("if-none-match") == _CSS_ETAG:
        return Response(status_code=304, headers=headers)
    return Response(_CSS, media_type="text/css; charset=utf-8", headers=headers)


# --- e-mail subscriptions -----------------------------------------------------------------


def _invalid(exc: ValidationError) -> InvalidInput:
    fields = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    names = ", ".join(f["field"] or "body" for f in fields)
    return InvalidInput(f"invalid input: {names}", details=fields)


async def _subscription_request(request: Request) -> tuple[SubscribeIn, bool]:
    """The request's fields from JSON or from the page's form; and whether it was the form."""
    content_type = request.headers.get("content-type", "")
    is_form = content_type.startswith(("application/x-www-form-urlencoded", "multipart/"))
    raw: Any
    try:
        if is_form:
            form = await request.form()
            raw = {"email": form.get("email", ""), "services": form.getlist("services")}
            return SubscribeIn.model_validate(raw), True
        return SubscribeIn.model_validate_json(await request.body()), False
    except ValidationError as exc:
        raise _invalid(exc) from None


@router.post("/status/subscribe", response_class=Response)
async def subscribe(
    request: Request, session: Session, settings: AppSettings, attempts: Attempts
) -> Response:
    """Ask for e-mail updates on some public services; a confirmation mail follows."""
    message = "If the address can receive mail, a confirmation link is on its way."
    try:
        data, is_form = await _subscription_request(request)
        # Every request mails a confirmation: bounded per recipient and per sender, or
        # the form would relay mail bombs to anyone's inbox.
        await attempts.take(SUBSCRIBE_PER_ADDRESS, client_address(request))
        await attempts.take(SUBSCRIBE_PER_EMAIL, data.email)
        # A savepoint: a refusal answered with a page (not raised) must leave nothing behind.
        async with session.begin_nested():
            await subscribers.do_request_subscription(
                session, email=data.email, slugs=data.services
            )
    except AppError as exc:
        if request.headers.get("content-type", "").startswith("application/json"):
            raise
        page = render_message("Subscription not saved", exc.message, status_code=exc.status_code)
        if isinstance(exc, TooManyAttempts):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    if is_form:
        return render_message("Check your inbox", message, status_code=202)
    return JSONResponse({"status": "pending_confirmation", "message": message}, status_code=202)


@router.get("/status/subscribe/confirm/{token}", response_class=Response)
async def confirm_subscription(token: str, session: Session, settings: AppSettings) -> Response:
    try:
        _subscriber, services = await subscribers.do_confirm_subscription(
            session, secret_key=settings.require_secret_key(), token=token
        )
    except subscribers.InvalidLink as exc:
        return render_message("Link not valid", exc.message, status_code=exc.status_code)
    names = ", ".join(s.name for s in services) or "no services"
    return render_message("Subscription confirmed", f"You will receive updates about: {names}.")


@router.get("/status/unsubscribe/{token}", response_class=Response)
async def unsubscribe_page(token: str, session: Session, settings: AppSettings) -> Response:
    """A page with one button: mail scanners that follow links unsubscribe nobody."""
    try:
        await subscribers.check_unsubscribe_token(
            session, secret_key=settings.require_secret_key(), token=token
        )
    except subscribers.InvalidLink as exc:
        return render_message("Link not valid", exc.message, status_code=exc.status_code)
    return render_unsubscribe_form(token)


@router.post("/status/unsubscribe/{token}", response_class=Response)
async def unsubscribe(token: str, session: Session, settings: AppSettings) -> Response:
    """One-click unsubscribe (RFC 8058 mail clients POST here directly)."""
    try:
        await subscribers.do_unsubscribe(
            session, secret_key=settings.require_secret_key(), token=token
        )
    except subscribers.InvalidLink as exc:
        return render_message("Link not valid", exc.message, status_code=exc.status_code)
    return render_message("Unsubscribed", "You will not receive status mails any more.")
