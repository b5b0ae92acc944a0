"""Tiny server-rendered SVG charts: readable without JavaScript, CSP-friendly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float
    text: str


@dataclass(frozen=True)
class BarChart:
    title: str
    width: int
    height: int
    bars: list[Bar]
    empty: bool


def bar_chart(
    title: str,
    points: list[tuple[str, float | None]],
    *,
    maximum: float | None = None,
    unit: str = "",
    width: int = 640,
    height: int = 180,
) -> BarChart:
    """Bars for labelled values; None values are left as gaps."""
    values = [v for _, v in points if v is not None]
    top = maximum if maximum is not None else max(values, default=0.0) or 1.0
    slot = width / max(1, len(points))
    bars = []
    for i, (label, value) in enumerate(points):
        if value is None:
            continue
        h = (height - 20) * min(value, top) / top
        bars.append(
            Bar(
                label,
                value,
                i * slot + 2,
                height - 20 - h,
                max(1.0, slot - 4),
                h,
                f"{label}: {value:g}{unit}",
            )
        )
    return BarChart(title, width, height, bars, empty=not any(values))
