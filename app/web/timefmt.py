"""Times on pages: in the viewer's own zone, the zone always named, UTC in `datetime`.

One filter for every template: `{{ moment | localtime }}` (or `localtime(seconds=True)`).
The page's `tz` (the signed-in viewer's zone; UTC for anonymous readers) decides the
wall clock; the machine-readable `datetime` attribute is always UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from app.kit.clock import as_utc

DEFAULT_ZONE = "UTC"


def zone(name: str | None) -> ZoneInfo:
    """The zone called `name`; UTC for none or a name this machine does not know."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def _offset(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@lru_cache(maxsize=128)
def _labels(zone_name: str, year: int) -> str:
    found: dict[str, str] = {}
    start = datetime(year - 1, 1, 1, tzinfo=UTC)
    for day in range(0, 3 * 366, 7):
        local = (start + timedelta(days=day)).astimezone(zone(zone_name))
        found.setdefault(_offset(local.utcoffset()), local.tzname() or _offset(local.utcoffset()))
    return json.dumps(found, sort_keys=True)


def zone_labels(zone_name: str | None) -> str:
    """JSON {"+01:00": "CET", ...}: the zone's names by UTC offset, around this year.

    The page's script labels live times with these, so they read like the server's.
    """
    return _labels(zone_name or DEFAULT_ZONE, datetime.now(UTC).year)


def _moment(value: datetime | str) -> datetime:
    if isinstance(value, str):  # frames carry times as ISO text
        value = datetime.fromisoformat(value)
    return as_utc(value)


def wall_clock(value: datetime | str, zone_name: str | None, *, seconds: bool = False) -> str:
    """`2026-03-02 14:05 CET`: the local time and the zone's abbreviation (or offset)."""
    local = _moment(value).astimezone(zone(zone_name))
    label = local.tzname() or local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + f" {label}"


def time_element(value: datetime | str, zone_name: str | None, *, seconds: bool = False) -> Markup:
    """A `<time>` element: UTC for machines, the viewer's wall clock for people."""
    moment = _moment(value)
    machine = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    utc = moment.strftime("%Y-%m-%d %H:%M UTC")
    shown = wall_clock(moment, zone_name, seconds=seconds)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(machine, utc, shown)


@pass_context
def localtime(
    context: Context, value: datetime | str | None, seconds: bool = False, empty: str = "—"
) -> Markup | str:
    """The Jinja filter: `{{ ticket.updated_at | localtime }}`; `empty` when there is none."""
    if value is None or value == "":
        return empty
    return time_element(value, _zone_of(context.get("tz")), seconds=seconds)


def _zone_of(value: Any) -> str:
    return value if isinstance(value, str) and value else DEFAULT_ZONE


def duration(seconds: float | None, empty: str = "—") -> str:
    """`45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`: how long, for people."""
    if seconds is None:
        return empty
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h" if hours % 24 else f"{hours // 24} d"
