"""Where policy events come from: the scope an event is resolved in, and replayable sources.

Each domain that stores events the policy judges (ticket events now; chat messages and
status updates later) registers a loader here, so `simulate` can replay a time range of
every kind without knowing the tables:

    register_event_source("chat_messages", load_chat_messages_between)

A loader returns `SourcedEvent`s ordered by `occurred_at`, at most `limit` of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.policy.evaluator import PolicyEvent


@dataclass(frozen=True, slots=True)
class EventScope:
    """What resolving an event's audiences needs besides the event: the rows it concerns."""

    # The mirror's ticket id. An event about a ticket without it reaches nobody outside
    # staff destinations: visibility cannot be checked, so it is denied.
    ticket_id: int | None = None
    # The IT service a status update is about (service subscribers, later).
    service: str | None = None
    # One line for approvers: what is waiting for them.
    subject: str = ""
    # Set when a second person already approved the content in its own domain (the
    # status desk's two-person rule): no second approval request is opened for it.
    approved_by_user_id: int | None = None


@dataclass(frozen=True, slots=True)
class SourcedEvent:
    """An event as the policy sees it, with its scope."""

    event: PolicyEvent
    scope: EventScope


EventLoader = Callable[[AsyncSession, datetime, datetime, int], Awaitable[list[SourcedEvent]]]

_SOURCES: dict[str, EventLoader] = {}


def register_event_source(name: str, loader: EventLoader) -> None:
    """Make a domain's stored events replayable by `simulate` (registering again replaces)."""
    _SOURCES[name] = loader


def event_sources() -> Mapping[str, EventLoader]:
    """Every registered source, by name."""
    return dict(_SOURCES)


async def replay_events(
    session: AsyncSession, since: datetime, until: datetime, limit: int
) -> tuple[list[SourcedEvent], bool]:
    """Events of every source with `since <= occurred_at < until`, oldest first; truncated?"""
    found: list[SourcedEvent] = []
    truncated = False
    for loader in _SOURCES.values():
        events = await loader(session, since, until, limit + 1)
        truncated = truncated or len(events) > limit
        found += events[:limit]
    found.sort(key=lambda sourced: (sourced.event.occurred_at, sourced.event.key))
    if len(found) > limit:
        # Keep the oldest: a replay cut short still shows a contiguous stretch of time.
        found, truncated = found[:limit], True
    return found, truncated
