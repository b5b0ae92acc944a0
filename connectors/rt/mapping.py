"""RT's default lifecycle statuses and numeric priorities mapped to normalized values.

Statuses are those of RT's `default` lifecycle. Admins can override them per instance
(`status_map.<status>=<normalized>`); a status in neither table counts as `open`.

RT priorities are numbers (0-99 by convention; RT 5 labels 0 "Low", 50 "Medium", 100
"High"). They map by band, so the label an agent sees in RT and the normalized value agree:
90+ → P1, 70-89 → P2, 40-69 → P3 (around "Medium"), below 40 → P4 (around "Low", which is
also where RT puts a ticket nobody prioritised: 0). Non-numeric values are read as labels.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import NormalizedPriority, NormalizedStatus

STATUS_MAP: Mapping[str, NormalizedStatus] = {
    "new": "new",
    "open": "open",
    "stalled": "pending",
    "resolved": "resolved",
    "rejected": "closed",
    "deleted": "closed",
}

PRIORITY_LABELS: Mapping[str, NormalizedPriority] = {
    "High": "P1",
    "Medium": "P3",
    "Low": "P4",
}

PRIORITY_BANDS: tuple[tuple[int, NormalizedPriority], ...] = (
    (90, "P1"),
    (70, "P2"),
    (40, "P3"),
)


def priority_from_number(raw: str) -> NormalizedPriority | None:
    """The band of a numeric RT priority (None when `raw` is not a number)."""
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    for floor, priority in PRIORITY_BANDS:
        if value >= floor:
            return priority
    return "P4"
