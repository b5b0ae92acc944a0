"""Rendering the status page and status.json, cached per audience and revision, with 304s.

Every change in the status domain bumps one revision counter in the database (in the same
transaction). A rendering is keyed by (what, audience, revision, UTC day): a request costs
one primary-key read until something changes, however many people refresh during an
incident, and replicas agree because the key lives in the database. The UTC day is part of
the key because the 90-day history moves on at midnight. A signed-in reader's page shows
times and the history's days in their own zone, so the zone and the day there are part of
its key (and ETag) too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import State

from app.kit.clock import utcnow
from app.status.lifecycle import ViewerAudience, label
from app.status.public import revision as status_revision
from app.status.public.view import IncidentView, StatusView
from app.web.timefmt import DEFAULT_ZONE, localtime
from app.web.timefmt import zone as timezone_of

_HERE = Path(__file__).resolve().parent
TEMPLATES = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["label"] = label
# The web UI's one time filter: <time datetime="UTC"> with the wall clock of the page's
# `tz` (the signed-in reader's zone; UTC for everyone else), the zone always named.
TEMPLATES.filters["localtime"] = localtime

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
CACHE_CONTROL: dict[ViewerAudience, str] = {
    "public": "public, max-age=30",
    # Personal: only the reader's browser may keep it, and must check back before reuse.
    "employees": "private, no-cache",
}


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    etag: str
    last_modified: datetime
    media_type: str


@dataclass(frozen=True, slots=True)
class Personal:
    """What one reader's copy adds to the shared rendering, applied after the cache.

    The rendering stays shared by every reader of an audience (one render per change,
    however many refresh); `apply` fills in the few per-person bits, and `key` (what they
    depend on) goes into that reader's ETag so a 304 is never given for a stale copy.
    """

    key: str
    apply: Callable[[bytes], bytes]


FOLLOW_SLOT = re.compile(rb"<!--sd-follow:([a-z0-9_-]+)-->")


def follow_controls(*, csrf: str | None, follows: frozenset[str]) -> Personal:
    """Follow / Unfollow buttons on each service for a browser session; nothing otherwise."""
    if csrf is None:
        return Personal("", lambda body: FOLLOW_SLOT.sub(b"", body))
    control = TEMPLATES.get_template("follow.html")

    def fill(match: re.Match[bytes]) -> bytes:
        slug = match.group(1).decode()
        return control.render(slug=slug, following=slug in follows, csrf=csrf).encode()

    key = hashlib.sha256(f"{csrf}|{','.join(sorted(follows))}".encode()).hexdigest()
    return Personal(key, lambda body: FOLLOW_SLOT.sub(fill, body))


@dataclass(frozen=True, slots=True)
class Version:
    """What a rendering depends on, read once per request."""

    revision: int
    day: str
    last_modified: datetime
    now: datetime
    # When the revision last moved, to the microsecond: part of every key, so a counter
    # that starts over (a database restored from an older backup, or emptied) can never
    # match a rendering cached under the same number before.
    changed_at: str = ""

    @classmethod
    async def current(cls, state: State) -> Version:
        revision, changed_at = await status_revision.current(state)
        now = utcnow()
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
        changed = max(changed_at or midnight, midnight).replace(microsecond=0)
        stamp = changed_at.isoformat() if changed_at is not None else ""
        return cls(revision, now.date().isoformat(), changed, now, stamp)

    def etag(self, what: str, audience: str, zone: str | None = None) -> str:
        key = f"{what}|{audience}|{self.revision}|{self.changed_at}|{self.day}"
        if zone is not None:
            # A rendering in the reader's zone is another rendering, and its day history
            # moves on at the reader's midnight.
            local_day = self.now.astimezone(timezone_of(zone)).date().isoformat()
            key += f"|{zone}|{local_day}"
        digest = hashlib.sha256(key.encode())
        return f'"{digest.hexdigest()[:24]}"'


class RenderCache:
    """A small LRU of renderings; one renderer per key at a time (no thundering herd)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[str, Rendered] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, etag: str, render: Callable[[], Awaitable[Rendered]]) -> Rendered:
        found = self._items.get(etag)
        if found is not None:
            self._items.move_to_end(etag)
            return found
        lock = self._locks.setdefault(etag, asyncio.Lock())
        async with lock:
            found = self._items.get(etag)
            if found is None:
                found = await render()
                self._items[etag] = found
                if len(self._items) > self._size:
                    self._items.popitem(last=False)
        self._locks.pop(etag, None)
        return found


def cache_of(request: Request) -> RenderCache:
    """The app's render cache (one per app, so tests never share renderings)."""
    state = request.app.state
    cache: RenderCache | None = getattr(state, "status_render_cache", None)
    if cache is None:
        cache = RenderCache()
        state.status_render_cache = cache
    return cache


def not_modified(
    request: Request, etag: str, last_modified: datetime, *, by_date: bool = True
) -> bool:
    """RFC 9110: If-None-Match decides when present, else If-Modified-Since (`by_date`)."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if not by_date:
        return False
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            return False
        return last_modified <= since
    return False


async def respond(
    request: Request,
    *,
    version: Version,
    what: str,
    audience: ViewerAudience,
    render: Callable[[], Awaitable[bytes]],
    media_type: str,
    zone: str | None = None,
    personal: Personal | None = None,
) -> Response:
    """A cached rendering as a response, or a 304 when the client's copy is current.

    `zone`: the reader's own time zone when the rendering shows times in it. It is part of
    the ETag (and so of the render cache's key), and only the ETag can then tell a copy is
    current: a reader who changed zone has a copy as recent as the status, in the old one.
    """
    shared = version.etag(what, audience, zone)
    etag = shared
    if personal is not None:
        etag = f'"{hashlib.sha256(f"{shared}|{personal.key}".encode()).hexdigest()[:24]}"'
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(version.last_modified, usegmt=True),
        "Cache-Control": CACHE_CONTROL[audience],
        "Vary": "Authorization, Cookie",
    }
    if media_type.startswith("text/html"):
        headers["Content-Security-Policy"] = CSP
    if not_modified(request, etag, version.last_modified, by_date=zone is None):
        return Response(status_code=304, headers=headers)

    async def _render() -> Rendered:
        return Rendered(await render(), shared, version.last_modified, media_type)

    rendered = await cache_of(request).get(shared, _render)
    body = rendered.body if personal is None else personal.apply(rendered.body)
    return Response(body, media_type=media_type, headers=headers)


def render_page(
    view: StatusView,
    *,
    base_url: str,
    subscribable: list[tuple[str, str]],
    zone: str | None = None,
) -> bytes:
    """The status page as HTML (no scripts, one stylesheet); times in the reader's `zone`
    when given (a signed-in reader's), else in UTC, and the page says which."""
    return (
        TEMPLATES.get_template("page.html")
        .render(
            view=view,
            base_url=base_url.rstrip("/"),
            subscribable=subscribable,
            tz=zone or DEFAULT_ZONE,
            own_zone=zone is not None,
        )
        .encode()
    )


def render_message(title: str, message: str, *, status_code: int = 200) -> Response:
    """A small page for the subscription links (confirmed, unsubscribed, invalid link...)."""
    body = TEMPLATES.get_template("message.html").render(title=title, message=message)
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}
    return Response(body, status_code=status_code, media_type="text/html", headers=headers)


def render_unsubscribe_form(token: str) -> Response:
    """The page behind an unsubscribe link: one button, so link scanners unsubscribe no one."""
    body = TEMPLATES.get_template("unsubscribe.html").render(token=token)
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}
    return Response(body, media_type="text/html", headers=headers)


def _incident_json(incident: IncidentView, base_url: str) -> dict[str, Any]:
    return {
        "id": str(incident.id),
        "name": incident.title,
        "status": incident.status,
        "impact": {
            "operational": "none",
            "under_maintenance": "maintenance",
            "degraded_performance": "minor",
            "partial_outage": "major",
            "major_outage": "critical",
        }[incident.impact],
        "created_at": incident.created_at.isoformat(),
        "updated_at": incident.updated_at.isoformat(),
        "started_at": incident.started_at.isoformat() if incident.started_at else None,
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "scheduled_for": incident.scheduled_start.isoformat() if incident.scheduled_start else None,
        "scheduled_until": incident.scheduled_end.isoformat() if incident.scheduled_end else None,
        "shortlink": f"{base_url}/status#incident-{incident.id}",
        "components": [{"id": slug, "name": name} for slug, name in incident.services],
        "incident_updates": [
            {
                "id": str(u.id),
                "status": u.status,
                "body": u.text,
                "created_at": u.published_at.isoformat(),
                "display_at": u.published_at.isoformat(),
            }
            for u in incident.updates
        ],
    }


def render_json(view: StatusView, *, base_url: str, updated_at: datetime) -> bytes:
    """status.json: a Statuspage-like summary of what the public may see."""
    base_url = base_url.rstrip("/")
    document = {
        "page": {
            "id": "socialdesk",
            "name": "IT service status",
            "url": f"{base_url}/status",
            "updated_at": updated_at.isoformat(),
        },
        "status": {"indicator": view.indicator, "description": view.description},
        "components": [
            {
                "id": s.slug,
                "name": s.name,
                "group": s.group,
                "description": s.description,
                "status": s.status,
            }
            for s in view.services
        ],
        "incidents": [
            _incident_json(i, base_url)
            for i in (*view.incidents, *view.recent)
            if i.kind == "incident"
        ],
        "scheduled_maintenances": [_incident_json(i, base_url) for i in view.maintenances],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
