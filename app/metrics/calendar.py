"""Business time: working hours in a time zone, minus weekends and holidays. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class BusinessCalendar:
    """Working hours per weekday (0 = Monday) in `timezone`; holidays are local dates."""

    timezone: str = "UTC"
    hours: dict[int, tuple[time, time]] = field(
        default_factory=lambda: {d: (time(9), time(17)) for d in range(5)}
    )
    holidays: frozenset[date] = frozenset()

    def _windows(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The working windows (UTC) of every local day that [start, end) touches."""
        zone = ZoneInfo(self.timezone)
        day = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date() + timedelta(days=1)
        windows = []
        while day <= last:
            span = self.hours.get(day.weekday())
            if span is not None and day not in self.holidays:
                opens = datetime.combine(day, span[0], zone).astimezone(UTC)
                closes = datetime.combine(day, span[1], zone).astimezone(UTC)
                windows.append((opens, closes))
            day += timedelta(days=1)
        return windows

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end); zero when end is not after start."""
        if end <= start:
            return 0.0
        total = 0.0
        for opens, closes in self._windows(start, end):
            overlap = min(closes, end) - max(opens, start)
            total += max(0.0, overlap.total_seconds())
        return total

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of working time after `start` (an SLA deadline)."""
        remaining = seconds
        horizon = start + timedelta(days=14)
        while True:
            for opens, closes in self._windows(start, horizon):
                begin = max(opens, start)
                if closes <= begin:
                    continue
                available = (closes - begin).total_seconds()
                if remaining <= available:
                    return begin + timedelta(seconds=remaining)
                remaining -= available
            if not self.hours:
                raise ValueError("a business calendar needs at least one working day")
            start, horizon = horizon, horizon + timedelta(days=14)
