from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.metrics.calendar import BusinessCalendar
from app.metrics.sla import ALL_SOURCES, Clock, ResponseSource, Target
from connectors.base import NormalizedPriority

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TargetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_response_minutes: int = Field(ge=1, le=60 * 24 * 90)
    resolution_minutes: int = Field(ge=1, le=60 * 24 * 365)
    clock: Clock = "business"

    @model_validator(mode="after")
    def _order(self) -> TargetConfig:
        if self.resolution_minutes < self.first_response_minutes:
            raise ValueError("resolution_minutes must not be shorter than first_response_minutes")
        return self


class WorkingHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: time
    end: time

    @model_validator(mode="after")
    def _order(self) -> WorkingHours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class CalendarConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    working_hours: dict[Weekday, WorkingHours] = Field(
        default_factory=lambda: {d: WorkingHours(start=time(9), end=time(17)) for d in WEEKDAYS[:5]}
    )
    holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(
            timezone=self.timezone,
            hours={WEEKDAYS.index(d): (h.start, h.end) for d, h in self.working_hours.items()},
            holidays=frozenset(self.holidays),
        )


def _default_targets() -> dict[NormalizedPriority, TargetConfig]:
    return {
        "P1": TargetConfig(first_response_minutes=15, resolution_minutes=240, clock="calendar"),
        "P2": TargetConfig(first_response_minutes=60, resolution_minutes=8 * 60),
        "P3": TargetConfig(first_response_minutes=4 * 60, resolution_minutes=3 * 8 * 60),
        "P4": TargetConfig(first_response_minutes=8 * 60, resolution_minutes=5 * 8 * 60),
    }


class SlaSettings(BaseModel):
    """What admins edit: targets per priority, the calendar, what counts as a response."""

    model_config = ConfigDict(extra="forbid")

    targets: dict[NormalizedPriority, TargetConfig] = Field(default_factory=_default_targets)
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    first_response_sources: list[ResponseSource] = Field(
        default_factory=lambda: sorted(ALL_SOURCES), min_length=1
    )

    def target(self, priority: str) -> Target | None:
        config = self.targets.get(priority)  # type: ignore[call-overload]
        if config is None:
            return None
        return Target(config.first_response_minutes, config.resolution_minutes, config.clock)


class Percentiles(BaseModel):
    p50: float | None
    p90: float | None
    p99: float | None


class DailyPoint(BaseModel):
    date: date
    tickets: int
    responded_within_sla: int
    share_within_sla: float | None


class SlaReport(BaseModel):
    since: datetime
    until: datetime
    tickets: int
    judged: int = Field(description="tickets whose first-response target has been met or missed")
    acted_within_sla: int
    share_acted_within_sla: float | None
    resolution_judged: int
    resolved_within_sla: int
    share_resolved_within_sla: float | None
    first_response_seconds: Percentiles
    resolution_seconds: Percentiles
    daily: list[DailyPoint]
