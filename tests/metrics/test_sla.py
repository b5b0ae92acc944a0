"""SLA arithmetic against hand-checked cases (Berlin office hours, Mon-Fri 09-17)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from app.metrics.calendar import BusinessCalendar
from app.metrics.sla import Step, Target, compute, percentile, resolved_at

BERLIN = ZoneInfo("Europe/Berlin")
# 2026-11-27 is a Friday, 2026-11-30 a Monday, 2026-12-01 a Tuesday.
CAL = BusinessCalendar(timezone="Europe/Berlin")
HOLIDAY_MONDAY = BusinessCalendar(
    timezone="Europe/Berlin", holidays=frozenset({date(2026, 11, 30)})
)


def berlin(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


class TestBusinessCalendar:
    def test_friday_afternoon_to_monday_morning_counts_two_hours(self) -> None:
        assert CAL.seconds_between(berlin(27, 16), berlin(30, 10)) == 2 * 3600

    def test_a_holiday_monday_does_not_count(self) -> None:
        assert HOLIDAY_MONDAY.seconds_between(berlin(27, 16), berlin(1, 10, month=12)) == 2 * 3600

    def test_nights_and_weekends_are_free(self) -> None:
        assert CAL.seconds_between(berlin(28, 10), berlin(29, 23)) == 0

    def test_a_deadline_skips_the_weekend(self) -> None:
        assert CAL.add(berlin(27, 16, 30), 3600) == berlin(30, 9, 30)
        assert HOLIDAY_MONDAY.add(berlin(27, 16, 30), 3600) == berlin(1, 9, 30, month=12)

    def test_custom_hours(self) -> None:
        cal = BusinessCalendar(timezone="UTC", hours={5: (time(10), time(12))})  # Saturdays
        start = datetime(2026, 11, 27, 0, tzinfo=UTC)
        assert cal.seconds_between(start, datetime(2026, 11, 29, tzinfo=UTC)) == 7200


def step(
    at: datetime,
    kind: str = "ticket.commented",
    *,
    public: bool = True,
    by_requester: bool = False,
    new_status: str | None = None,
) -> Step:
    return Step(at=at, kind=kind, public=public, by_requester=by_requester, new_status=new_status)


ONE_HOUR = Target(first_response_minutes=60, resolution_minutes=8 * 60)


class TestFirstResponse:
    def test_an_agent_reply_across_the_weekend_is_within_one_business_hour(self) -> None:
        sla = compute(
            opened_at=berlin(27, 16, 30),
            steps=[step(berlin(30, 9, 20))],
            target=ONE_HOUR,
            calendar=CAL,
            now=berlin(2, 12, month=12),
        )
        assert sla.first_response_seconds == 50 * 60
        assert sla.first_response_met is True

    def test_internal_notes_and_the_requester_do_not_count(self) -> None:
        steps = [
            step(berlin(30, 9, 5), public=False),
            step(berlin(30, 9, 10), by_requester=True),
            step(berlin(30, 11), "ticket.status_changed", new_status="in_progress"),
        ]
        sla = compute(
            opened_at=berlin(30, 9), steps=steps, target=ONE_HOUR, calendar=CAL, now=berlin(30, 12)
        )
        assert sla.first_response_at == berlin(30, 11)
        assert sla.first_response_met is False

    def test_a_chat_message_counts_unless_switched_off(self) -> None:
        steps = [step(berlin(30, 9, 30), "chat.message")]
        on = compute(
            opened_at=berlin(30, 9), steps=steps, target=ONE_HOUR, calendar=CAL, now=berlin(30, 12)
        )
        off = compute(
            opened_at=berlin(30, 9),
            steps=steps,
            target=ONE_HOUR,
            calendar=CAL,
            now=berlin(30, 12),
            sources=frozenset({"public_comment"}),
        )
        assert on.first_response_met is True
        assert off.first_response_at is None
        assert off.first_response_met is False  # deadline 10:00 has passed

    def test_never_answered_is_pending_until_the_deadline_then_missed(self) -> None:
        before = compute(
            opened_at=berlin(27, 16, 30),
            steps=[],
            target=ONE_HOUR,
            calendar=CAL,
            now=berlin(29, 12),
        )
        after = compute(
            opened_at=berlin(27, 16, 30),
            steps=[],
            target=ONE_HOUR,
            calendar=CAL,
            now=berlin(30, 9, 31),
        )
        assert before.first_response_met is None
        assert after.first_response_met is False

    def test_calendar_clock_ignores_office_hours(self) -> None:
        p1 = Target(first_response_minutes=15, resolution_minutes=240, clock="calendar")
        sla = compute(
            opened_at=berlin(28, 3),
            steps=[step(berlin(28, 3, 20))],
            target=p1,
            calendar=CAL,
            now=berlin(28, 4),
        )
        assert sla.first_response_seconds == 20 * 60
        assert sla.first_response_met is False


class TestResolution:
    def test_a_reopened_ticket_is_resolved_when_it_stays_resolved(self) -> None:
        steps = [
            step(berlin(30, 10), "ticket.resolved", new_status="resolved"),
            step(berlin(30, 11), "ticket.reopened", new_status="open"),
            step(berlin(1, 10, month=12), "ticket.resolved", new_status="resolved"),
            step(berlin(1, 11, month=12), "ticket.status_changed", new_status="closed"),
        ]
        assert resolved_at(steps) == berlin(1, 10, month=12)
        sla = compute(
            opened_at=berlin(30, 9),
            steps=steps,
            target=ONE_HOUR,
            calendar=CAL,
            now=berlin(2, 9, month=12),
        )
        assert sla.resolution_seconds == 9 * 3600  # 8 h Monday + 1 h Tuesday
        assert sla.resolution_met is False

    def test_still_open_has_no_resolution(self) -> None:
        steps = [
            step(berlin(30, 10), "ticket.resolved", new_status="resolved"),
            step(berlin(30, 11), "ticket.reopened", new_status="open"),
        ]
        assert resolved_at(steps) is None


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([5.0], 99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 90, 4.0),
        ([float(i) for i in range(1, 101)], 99, 99.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected
