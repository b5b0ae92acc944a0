"""The rules of the status domain as data: audiences, states, transitions, impacts.

Pure functions only (no I/O), so the same rules serve the API, the page and the tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

from app.kit.errors import InvalidInput

Audience = Literal["internal", "employees", "public"]
Visibility = Audience
IncidentKind = Literal["incident", "maintenance"]
IncidentStatus = Literal[
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "scheduled",
    "in_progress",
    "completed",
]
Impact = Literal["degraded_performance", "partial_outage", "major_outage", "maintenance"]
ServiceStatus = Literal[
    "operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"
]
UpdateState = Literal["pending", "held", "published", "rejected"]
ViewerAudience = Literal["public", "employees"]

SERVICE_STATUSES: tuple[ServiceStatus, ...] = get_args(ServiceStatus)

# Which content audiences each reader sees: the public only public content; a signed-in
# employee public and employee content; staff everything.
_READS: dict[Audience, tuple[Audience, ...]] = {
    "public": ("public",),
    "employees": ("public", "employees"),
    "internal": ("public", "employees", "internal"),
}
_WIDTH: dict[Audience, int] = {"internal": 0, "employees": 1, "public": 2}

_TRANSITIONS: dict[str, frozenset[str]] = {
    # An incident may move on or back while open; resolved is final (follow-up notes allowed).
    "investigating": frozenset({"investigating", "identified", "monitoring", "resolved"}),
    "identified": frozenset({"investigating", "identified", "monitoring", "resolved"}),
    "monitoring": frozenset({"investigating", "identified", "monitoring", "resolved"}),
    "resolved": frozenset({"resolved"}),
    # A maintenance starts before it completes, and never goes back to "scheduled".
    "scheduled": frozenset({"scheduled", "in_progress"}),
    "in_progress": frozenset({"in_progress", "completed"}),
    "completed": frozenset({"completed"}),
}
INITIAL_STATUSES: dict[IncidentKind, frozenset[str]] = {
    "incident": frozenset({"investigating", "identified", "monitoring"}),
    "maintenance": frozenset({"scheduled", "in_progress"}),
}
KIND_STATUSES: dict[str, frozenset[str]] = {
    "incident": frozenset({"investigating", "identified", "monitoring", "resolved"}),
    "maintenance": frozenset({"scheduled", "in_progress", "completed"}),
}
CLOSED_STATUSES: frozenset[str] = frozenset({"resolved", "completed"})

# Worst wins; maintenance counts as least bad of the non-operational states.
_SEVERITY: dict[str, int] = {
    "operational": 0,
    "under_maintenance": 1,
    "degraded_performance": 2,
    "partial_outage": 3,
    "major_outage": 4,
}
_LABELS: dict[str, str] = {
    "operational": "Operational",
    "under_maintenance": "Under maintenance",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "completed": "Completed",
}


def readable_by(reader: Audience) -> tuple[Audience, ...]:
    """The content audiences a reader at this level may see."""
    return _READS[reader]


def wider_than(audience: Audience, visibility: Audience) -> bool:
    """Whether content for `audience` would reach people a `visibility` service hides from."""
    return _WIDTH[audience] > _WIDTH[visibility]


def widest(visibilities: Iterable[Audience]) -> Audience:
    """The widest of several visibilities (internal when there are none)."""
    return max(visibilities, key=_WIDTH.__getitem__, default="internal")


def check_transition(kind: str, current: str, new: str) -> None:
    """Raise a 422 naming both states unless `current -> new` is allowed for this kind."""
    allowed = _TRANSITIONS.get(current, frozenset()) & KIND_STATUSES.get(kind, frozenset())
    if new not in allowed:
        article = "an" if kind == "incident" else "a"
        raise InvalidInput(
            f"{article} {kind} cannot move from {current} to {new}",
            code="invalid_transition",
            details={"from": current, "to": new, "allowed": sorted(allowed)},
        )


def check_initial_status(kind: IncidentKind, status: str) -> None:
    """Raise a 422 unless a new incident of this kind may start in `status`."""
    if status not in INITIAL_STATUSES[kind]:
        raise InvalidInput(
            f"a new {kind} cannot start as {status}",
            code="invalid_transition",
            details={"from": None, "to": status, "allowed": sorted(INITIAL_STATUSES[kind])},
        )


def check_impact(kind: IncidentKind, impact: Impact) -> None:
    """Maintenance has the maintenance impact; incidents never do."""
    if (impact == "maintenance") != (kind == "maintenance"):
        expected = "maintenance" if kind == "maintenance" else "an outage level"
        raise InvalidInput(
            f"a {kind} affects services with {expected}, not {impact}", code="invalid_impact"
        )


def impact_status(impact: str) -> ServiceStatus:
    """The service status an impact stands for."""
    return "under_maintenance" if impact == "maintenance" else impact  # type: ignore[return-value]


def closes(from_status: str, to_status: str) -> bool:
    """Whether an update moving `from_status -> to_status` resolves or completes its incident."""
    return to_status in CLOSED_STATUSES and from_status not in CLOSED_STATUSES


def is_active(kind: str, status: str) -> bool:
    """Whether an incident affects its services now (a maintenance only while in progress)."""
    if kind == "maintenance":
        return status == "in_progress"
    return status not in CLOSED_STATUSES


def worst(statuses: Iterable[str]) -> ServiceStatus:
    """The worst of several statuses or impacts (operational for none)."""
    found: ServiceStatus = "operational"
    for status in statuses:
        candidate = impact_status(status) if status in get_args(Impact) else status
        if _SEVERITY[candidate] > _SEVERITY[found]:
            found = candidate  # type: ignore[assignment]
    return found


def severity(status: str) -> int:
    """How bad a service status is, for sorting (0: operational)."""
    return _SEVERITY[status]


def label(value: str) -> str:
    """The human words for a status or impact."""
    return _LABELS.get(value, value.replace("_", " ").capitalize())


def overall(statuses: Iterable[str]) -> tuple[str, str]:
    """A Statuspage-style page indicator and description for a set of service statuses."""
    found = worst(statuses)
    return {
        "operational": ("none", "All systems operational"),
        "under_maintenance": ("maintenance", "Service under maintenance"),
        "degraded_performance": ("minor", "Degraded performance"),
        "partial_outage": ("major", "Partial system outage"),
        "major_outage": ("critical", "Major system outage"),
    }[found]
