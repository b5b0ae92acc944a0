"""A deterministic little ticketing system that keeps itself busy.

Step `n` of the world is generated from `Random(f"{seed}:{n}")`, so the same seed and
epoch always produce the same history: a restarted service resumes from its cursor
and sees exactly what it would have seen. Steps happen at `rate` per minute after the
epoch; the first `backlog` steps happened before it, so a new demo is not empty.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from connectors.base import (
    ChangeKind,
    NormalizedPriority,
    NormalizedStatus,
    Person,
    TicketChange,
    TicketSnapshot,
    Visibility,
)
from connectors.demo import catalog

# How a ticket moves on: status -> the statuses it can go to next.
NEXT_STATUS: dict[NormalizedStatus, tuple[NormalizedStatus, ...]] = {
    "new": ("open", "in_progress"),
    "open": ("in_progress", "pending"),
    "in_progress": ("pending", "resolved", "resolved"),
    "pending": ("in_progress", "resolved"),
    "resolved": ("closed", "closed", "open"),
    "closed": (),
}
RAW_STATUS: dict[NormalizedStatus, str] = {
    "new": "New",
    "open": "Open",
    "in_progress": "In Progress",
    "pending": "Waiting for customer",
    "resolved": "Resolved",
    "closed": "Closed",
}
RAW_PRIORITY: dict[NormalizedPriority, str] = {
    "P1": "Critical",
    "P2": "High",
    "P3": "Medium",
    "P4": "Low",
}


@dataclass
class DemoTicket:
    snapshot: TicketSnapshot
    history_steps: int = 0


@dataclass
class DemoWorld:
    seed: int
    epoch: datetime
    rate_per_minute: float
    backlog: int = 40
    tickets: dict[str, DemoTicket] = field(default_factory=dict)
    log: list[tuple[int, TicketChange]] = field(default_factory=list)
    step: int = 0
    written: list[TicketChange] = field(default_factory=list)
    written_keys: dict[str, str] = field(default_factory=dict)

    def time_of(self, step: int) -> datetime:
        """Backlog steps are spread over the hours before the epoch."""
        if step < self.backlog:
            return self.epoch - timedelta(minutes=9 * (self.backlog - step))
        return self.epoch + timedelta(minutes=(step - self.backlog) / self.rate_per_minute)

    def steps_until(self, now: datetime) -> int:
        elapsed = max(0.0, (now - self.epoch).total_seconds())
        return self.backlog + int(elapsed * self.rate_per_minute / 60)

    def advance(self, now: datetime) -> None:
        """Generate every step that has happened by `now`."""
        target = self.steps_until(now)
        while self.step < target:
            self._generate(self.step)
            self.step += 1

    def _generate(self, step: int) -> None:
        rng = random.Random(f"{self.seed}:{step}")
        at = self.time_of(step)
        live = [t for t in self.tickets.values() if t.snapshot.status != "closed"]
        if len(live) < 4 or rng.random() < 0.22:
            self._create(step, rng, at)
        else:
            self._touch(
                step, rng, at, rng.choice(sorted(live, key=lambda t: t.snapshot.external_id))
            )

    def _create(self, step: int, rng: random.Random, at: datetime) -> None:
        external_id = f"DEMO-{len(self.tickets) + 1001}"
        if rng.random() < 0.75:
            service = rng.choice(sorted(catalog.INCIDENTS))
            title = rng.choice(catalog.INCIDENTS[service])
            priority: NormalizedPriority = rng.choices(
                ("P1", "P2", "P3", "P4"), weights=(1, 3, 6, 3)
            )[0]
        else:
            service, title = "requests", rng.choice(catalog.REQUESTS)
            priority = "P4"
        requester = rng.choice(catalog.EMPLOYEES)
        snapshot = TicketSnapshot(
            external_id=external_id,
            title=title,
            description=f"{title}. Reported by {requester.name}.",
            status="new",
            raw_status=RAW_STATUS["new"],
            priority=priority,
            raw_priority=RAW_PRIORITY[priority],
            created_at=at,
            updated_at=at,
            requester=requester,
            service=service,
            url=f"https://desk.example.com/tickets/{external_id}",
        )
        self.tickets[external_id] = DemoTicket(snapshot)
        self._record(
            step, ChangeKind.CREATED, external_id, at, requester, body=snapshot.description
        )

    def _touch(self, step: int, rng: random.Random, at: datetime, ticket: DemoTicket) -> None:
        snap = ticket.snapshot
        roll = rng.random()
        if snap.assignee is None and snap.status in ("new", "open"):
            agent = rng.choice(catalog.AGENTS)
            self._update(ticket, at, assignee=agent)
            self._record(step, ChangeKind.ASSIGNED, snap.external_id, at, agent, new=agent.name)
        elif roll < 0.4 and NEXT_STATUS[snap.status]:
            self._move(step, rng, at, ticket)
        elif roll < 0.6:
            actor = snap.assignee or rng.choice(catalog.AGENTS)
            text = rng.choice(catalog.AGENT_PUBLIC_COMMENTS)
            self._comment(step, at, ticket, actor, text, Visibility.PUBLIC)
        elif roll < 0.75:
            actor = snap.assignee or rng.choice(catalog.AGENTS)
            text = rng.choice(catalog.AGENT_INTERNAL_NOTES)
            self._comment(step, at, ticket, actor, text, Visibility.INTERNAL)
        elif roll < 0.92 and snap.requester is not None:
            text = rng.choice(catalog.REQUESTER_COMMENTS)
            self._comment(step, at, ticket, snap.requester, text, Visibility.PUBLIC)
        else:
            old = snap.priority
            new: NormalizedPriority = "P1" if old != "P1" and rng.random() < 0.3 else "P2"
            if new == old:
                new = "P3"
            self._update(ticket, at, priority=new, raw_priority=RAW_PRIORITY[new])
            self._record(
                step,
                ChangeKind.PRIORITY_CHANGED,
                snap.external_id,
                at,
                snap.assignee,
                old=old,
                new=new,
            )

    def _move(self, step: int, rng: random.Random, at: datetime, ticket: DemoTicket) -> None:
        old = ticket.snapshot.status
        new = rng.choice(NEXT_STATUS[old])
        kind = ChangeKind.STATUS_CHANGED
        if new == "resolved":
            kind = ChangeKind.RESOLVED
        elif old in ("resolved", "closed") and new not in ("resolved", "closed"):
            kind = ChangeKind.REOPENED
        actor = ticket.snapshot.assignee or catalog.AGENTS[0]
        self._update(ticket, at, status=new, raw_status=RAW_STATUS[new])
        self._record(step, kind, ticket.snapshot.external_id, at, actor, old=old, new=new)

    def _comment(
        self,
        step: int,
        at: datetime,
        ticket: DemoTicket,
        actor: Person,
        text: str,
        visibility: Visibility,
    ) -> None:
        self._update(ticket, at)
        self._record(
            step,
            ChangeKind.COMMENTED,
            ticket.snapshot.external_id,
            at,
            actor,
            body=text,
            visibility=visibility,
        )

    @staticmethod
    def _update(ticket: DemoTicket, at: datetime, **changes: object) -> None:
        ticket.snapshot = replace(ticket.snapshot, updated_at=at, **changes)  # type: ignore[arg-type]
        ticket.history_steps += 1

    def _record(
        self,
        step: int,
        kind: ChangeKind,
        external_id: str,
        at: datetime,
        actor: Person | None,
        *,
        body: str | None = None,
        old: str | None = None,
        new: str | None = None,
        visibility: Visibility = Visibility.PUBLIC,
    ) -> None:
        change = TicketChange(
            source_id=f"demo:{step}",
            kind=kind,
            ticket=self.tickets[external_id].snapshot,
            occurred_at=at,
            actor=actor,
            visibility=visibility,
            body=body,
            old_value=old,
            new_value=new,
            external_comment_id=f"demo-step-{step}" if kind is ChangeKind.COMMENTED else None,
        )
        self.log.append((step, change))

    def write_comment(
        self, external_id: str, body: str, visibility: Visibility, key: str, at: datetime
    ) -> str:
        """A comment added through the API (write-back); idempotent by key."""
        if key in self.written_keys:
            return self.written_keys[key]
        ticket = self.tickets[external_id]
        comment_id = f"demo-w{len(self.written) + 1}"
        self._update(ticket, at)
        self.written.append(
            TicketChange(
                source_id=f"demo:w:{comment_id}",
                kind=ChangeKind.COMMENTED,
                ticket=ticket.snapshot,
                occurred_at=at,
                actor=Person("socialdesk", "Socialdesk", None),
                visibility=visibility,
                body=body,
                external_comment_id=comment_id,
            )
        )
        self.written_keys[key] = comment_id
        return comment_id
