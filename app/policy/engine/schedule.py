"""When a decided message goes out: the rule's timing, then the recipient's preferences.

- `timing: {delay: 5m}` -> deliver at `occurred_at + 5m`; the caller collapses repeats of
  the same key (ticket x recipient x channel) waiting in that window.
- `timing: {digest: hourly|daily}` -> the next digest boundary in the recipient's zone
  (top of the local hour; `DAILY_DIGEST_AT` local time).
- A recipient's digest preference and quiet hours govern only the channels that interrupt
  a person (`PREFERENCE_CHANNELS`): the in-app inbox is silent by nature, and broadcast or
  write-back destinations have no one to disturb. A rule with `respect_quiet_hours: false`
  (a P1) breaks through both quiet hours and the digest preference.
- Quiet hours are local wall-clock times (zoneinfo, so DST is honoured) and may cross
  midnight (22:00-07:00); a message falling inside waits until they end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.policy.engine.document import Rule

DigestMode = Literal["immediate", "hourly", "daily"]
Timed = Literal["send", "delay", "digest"]

PREFERENCE_CHANNELS: frozenset[str] = frozenset({"email", "apprise", "webhook"})
DAILY_DIGEST_AT = time(8, 0)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A nightly window in local time; start == end means no quiet hours."""

    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Preferences:
    """A recipient's delivery preferences (shared by many recipients, so cheap to pass)."""

    timezone: str = "UTC"
    quiet_hours: QuietHours | None = None
    digest: DigestMode = "immediate"


def schedule(
    rule: Rule, channel: str, prefs: Preferences, occurred_at: datetime, now: datetime
) -> tuple[Timed, datetime | None, list[str]]:
    """Outcome, delivery time (None: now) and the sentences explaining them."""
    notes: list[str] = []
    outcome: Timed = "send"
    at = now
    delay = rule.timing.delay_seconds
    if delay is not None:
        outcome, at = "delay", occurred_at + timedelta(seconds=delay)
        notes.append(f"delayed {rule.timing.delay} after the event so repeats collapse")
    personal = channel in PREFERENCE_CHANNELS
    obeys = personal and rule.respect_quiet_hours
    zone = _zone(prefs.timezone)
    if zone is None:
        zone = ZoneInfo("UTC")
        notes.append(f"unknown time zone {prefs.timezone!r}; times are read as UTC")
    cadence = rule.timing.digest or (
        prefs.digest if obeys and prefs.digest != "immediate" else None
    )
    if cadence is not None:
        outcome, at = "digest", next_digest_at(max(at, now), cadence, zone)
        notes.append(f"goes out with the {cadence} digest at {_local(at, zone)}")
    until = quiet_until(max(at, now), prefs.quiet_hours, zone) if obeys else None
    if until is not None and prefs.quiet_hours is not None:
        window = f"{prefs.quiet_hours.start:%H:%M}-{prefs.quiet_hours.end:%H:%M}"
        outcome = "delay" if outcome == "send" else outcome
        at = until
        notes.append(f"quiet hours {window} {prefs.timezone}: waits until {_local(at, zone)}")
    if personal and not rule.respect_quiet_hours:
        notes.append("the rule breaks through quiet hours and digest preferences")
    if outcome == "send":
        notes.append("sent now")
        return outcome, None, notes
    return outcome, at, notes


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _at_local(day: date, wall: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def next_digest_at(after: datetime, cadence: str, zone: ZoneInfo) -> datetime:
    """The first digest boundary strictly after `after`, in UTC."""
    local = after.astimezone(zone)
    if cadence == "hourly":
        top = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        return top + timedelta(hours=1)
    boundary = _at_local(local.date(), DAILY_DIGEST_AT, zone)
    if boundary <= after:
        boundary = _at_local(local.date() + timedelta(days=1), DAILY_DIGEST_AT, zone)
    return boundary


def quiet_until(at: datetime, quiet: QuietHours | None, zone: ZoneInfo) -> datetime | None:
    """When the quiet hours around `at` end (UTC), or None if `at` is outside them."""
    if quiet is None or quiet.start == quiet.end:
        return None
    local = at.astimezone(zone)
    wall = local.time()
    if quiet.start < quiet.end:
        inside = quiet.start <= wall < quiet.end
    else:  # the window crosses midnight
        inside = wall >= quiet.start or wall < quiet.end
    if not inside:
        return None
    day = local.date() if wall < quiet.end else local.date() + timedelta(days=1)
    return max(_at_local(day, quiet.end, zone), at)
