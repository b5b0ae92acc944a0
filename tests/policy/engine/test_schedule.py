"""Quiet hours and digest boundaries, in the recipient's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from app.policy.engine.document import Rule, Timing
from app.policy.engine.schedule import (
    Preferences,
    QuietHours,
    next_digest_at,
    quiet_until,
    schedule,
)

PARIS = ZoneInfo("Europe/Paris")
NIGHT = QuietHours(time(22, 0), time(7, 0))


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class TestQuietUntil:
    @pytest.mark.parametrize(
        ("moment", "expected"),
        [
            (_utc(2025, 1, 10, 22, 30), _utc(2025, 1, 11, 6, 0)),  # 23:30 Paris -> 07:00 next day
            (_utc(2025, 1, 10, 2, 0), _utc(2025, 1, 10, 6, 0)),  # 03:00 Paris -> 07:00 same day
            (_utc(2025, 1, 10, 12, 0), None),  # 13:00 Paris: not quiet
            (_utc(2025, 1, 10, 6, 0), None),  # exactly 07:00: quiet hours are over
            (_utc(2025, 1, 10, 21, 0), _utc(2025, 1, 11, 6, 0)),  # exactly 22:00: quiet
        ],
    )
    def test_a_window_crossing_midnight(self, moment: datetime, expected: datetime | None) -> None:
        assert quiet_until(moment, NIGHT, PARIS) == expected

    def test_a_daytime_window(self) -> None:
        lunch = QuietHours(time(12, 0), time(13, 0))
        assert quiet_until(_utc(2025, 1, 10, 11, 30), lunch, PARIS) == _utc(2025, 1, 10, 12, 0)

    def test_equal_start_and_end_means_no_quiet_hours(self) -> None:
        assert quiet_until(_utc(2025, 1, 10, 3, 0), QuietHours(time(5), time(5)), PARIS) is None

    def test_the_end_follows_daylight_saving_time(self) -> None:
        # The night of 29-30 March 2025 is one hour shorter in Paris.
        assert quiet_until(_utc(2025, 3, 29, 23, 0), NIGHT, PARIS) == _utc(2025, 3, 30, 5, 0)


class TestNextDigestAt:
    def test_hourly_is_the_top_of_the_local_hour(self) -> None:
        kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30
        assert next_digest_at(_utc(2025, 1, 10, 12, 10), "hourly", kolkata) == _utc(
            2025, 1, 10, 12, 30
        )

    def test_daily_is_eight_in_the_morning_local(self) -> None:
        assert next_digest_at(_utc(2025, 1, 10, 6, 59), "daily", PARIS) == _utc(2025, 1, 10, 7, 0)
        assert next_digest_at(_utc(2025, 1, 10, 7, 0), "daily", PARIS) == _utc(2025, 1, 11, 7, 0)


class TestSchedule:
    def test_an_unknown_zone_is_read_as_utc_and_said_so(self) -> None:
        rule = Rule.model_validate(
            {"id": "r", "on": ["ticket.created"], "to": ["agents"], "via": ["email"]}
        )
        prefs = Preferences("Mars/Olympus_Mons", QuietHours(time(0), time(6)))
        outcome, at, notes = schedule(
            rule, "email", prefs, _utc(2025, 1, 10, 1), _utc(2025, 1, 10, 1)
        )
        assert (outcome, at) == ("delay", _utc(2025, 1, 10, 6, 0))
        assert "unknown time zone" in notes[0]

    def test_quiet_hours_push_a_digest_further(self) -> None:
        rule = Rule.model_validate(
            {"id": "r", "on": ["ticket.created"], "to": ["agents"], "via": ["email"]}
        ).model_copy(update={"timing": Timing(digest="hourly")})
        prefs = Preferences("UTC", QuietHours(time(22), time(7)))
        outcome, at, _ = schedule(
            rule, "email", prefs, _utc(2025, 1, 10, 21, 30), _utc(2025, 1, 10, 21, 30)
        )
        assert (outcome, at) == ("digest", _utc(2025, 1, 11, 7, 0))
