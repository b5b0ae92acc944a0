"""Where policy events come from: the scope an event is resolved in, and the stored events.

Each domain that stores events the policy judges registers loaders here, so the policy can
read them back without knowing the tables:

- a replayable source, for `simulate` (a time range of every kind):

      register_event_source("chat_messages", load_chat_messages_between)

  A source returns `SourcedEvent`s ordered by `occurred_at`, at most `limit` of them;
- a loader of ONE event by its key, for releasing what an approver approved
  (`app.policy.decisions.release`), registered under the key prefix the domain gives its events:

      register_event_loader("chat_message:", load_chat_message_event)

  It returns None when the event is gone (its ticket or message deleted).

The policy domain imports no other domain: `app/wiring.py` registers the loaders.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.policy.engine.evaluator import PolicyEvent


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

EventByKey = Callable[[AsyncSession, str], Awaitable[SourcedEvent | None]]

_SOURCES: dict[str, EventLoader] = {}
_BY_KEY: dict[str, EventByKey] = {}


class UnknownEventKind(LookupError):
    """No domain registered a loader for keys like this one."""


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


def register_event_loader(key_prefix: str, loader: EventByKey) -> None:
    """Let the policy load one stored event by its key (registering a prefix again replaces)."""
    if not key_prefix:
        raise ValueError("an event loader needs a key prefix")
    _BY_KEY[key_prefix] = loader


async def load_event(session: AsyncSession, key: str) -> SourcedEvent | None:
    """The stored event with this key, with its scope; None if it no longer exists.

    Raises `UnknownEventKind` when no registered prefix fits the key (the longest one wins).
    """
    fits = [prefix for prefix in _BY_KEY if key.startswith(prefix)]
    if not fits:
        raise UnknownEventKind(f"no domain loads events like {key!r}")
    return await _BY_KEY[max(fits, key=len)](session, key)


def id_in_key(key: str, prefix: str) -> int | None:
    """The numeric id of a key like `<prefix><id>`; None if the key is not one."""
    rest = key.removeprefix(prefix)
    if rest == key or not rest.isascii() or not rest.isdigit():
        return None
    return int(rest)
