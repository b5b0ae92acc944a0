"""`simulate`: replay stored events against a candidate policy and the active one, and diff.

Nothing is written. Each event is judged twice with `now` = the time it happened, against
the recipients resolved today (audiences, visibility and each ticket's current facts), so
the diff shows exactly what changing the policy changes, not what changed in the data.

A recipient x channel "receives" when the outcome is anything but `suppress`. The diff
lists `added` (receives under the candidate only), `removed` (under the active policy
only) and `changed` (receives under both, with another outcome, e.g. send -> hold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import app.policy.decisions.ticket_events  # noqa: F401  (registers the ticket_events source)
from app.policy.decisions.audiences import audiences_for, resolve_recipients
from app.policy.decisions.judging import judge
from app.policy.decisions.sources import replay_events
from app.policy.engine.document import PolicyDocument
from app.policy.engine.evaluator import Decision
from app.policy.service import ActivePolicy, active_policy

MAX_EVENTS = 5000


@dataclass
class SimulationDiff:
    """Who would receive what differently under the candidate."""

    since: datetime
    until: datetime
    active_version: int
    events: int = 0
    truncated: bool = False
    unchanged: int = 0
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self, *, max_entries: int) -> dict[str, Any]:
        """JSON-ready; each list cut at `max_entries` (the summary still counts them all)."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "active_version": self.active_version,
            "events": self.events,
            "truncated": self.truncated,
            "summary": {
                "added": len(self.added),
                "removed": len(self.removed),
                "changed": len(self.changed),
                "unchanged": self.unchanged,
            },
            "added": self.added[:max_entries],
            "removed": self.removed[:max_entries],
            "changed": self.changed[:max_entries],
        }


def _side(decision: Decision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {"outcome": decision.outcome, "rule_id": decision.rule_id}


def _receives(decision: Decision | None) -> bool:
    return decision is not None and decision.outcome != "suppress"


async def simulate(
    session: AsyncSession,
    candidate: PolicyDocument,
    *,
    since: datetime,
    until: datetime,
    max_events: int = MAX_EVENTS,
) -> SimulationDiff:
    """Judge every stored event of [since, until) by both policies; nothing is persisted."""
    active = await active_policy(session)
    trial = ActivePolicy(version_id=0, version=0, document=candidate)
    diff = SimulationDiff(since=since, until=until, active_version=active.version)
    replayed, diff.truncated = await replay_events(session, since, until, max_events)
    diff.events = len(replayed)
    for sourced in replayed:
        event = sourced.event
        audiences = audiences_for(active.document, event.type)
        audiences |= audiences_for(candidate, event.type)
        recipients = await resolve_recipients(session, event, sourced.scope, audiences)
        before = _by_target(judge(active, event, recipients, event.occurred_at))
        after = _by_target(judge(trial, event, recipients, event.occurred_at))
        user_ids = {r.key: r.user_id for r in recipients}
        for target in sorted(before.keys() | after.keys()):
            old, new = before.get(target), after.get(target)
            bucket = _bucket(diff, old, new)
            if bucket is None:
                diff.unchanged += 1
                continue
            bucket.append(
                {
                    "event_key": event.key,
                    "event_type": event.type,
                    "recipient_key": target[0],
                    "recipient_user_id": user_ids.get(target[0]),
                    "channel": target[1],
                    "before": _side(old),
                    "after": _side(new),
                }
            )
    return diff


def _bucket(
    diff: SimulationDiff, old: Decision | None, new: Decision | None
) -> list[dict[str, Any]] | None:
    if _receives(new) and not _receives(old):
        return diff.added
    if _receives(old) and not _receives(new):
        return diff.removed
    if old is not None and new is not None and _receives(old) and old.outcome != new.outcome:
        return diff.changed
    return None


def _by_target(decisions: list[Decision]) -> dict[tuple[str, str], Decision]:
    return {(d.recipient_key, d.channel): d for d in decisions}
