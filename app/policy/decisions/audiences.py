"""Audiences: who `requester`, `agents`, `followers`... are for one event, resolved in bulk.

Each domain registers the audiences it owns with `register_audience(name, resolver)`. A
resolver is a plain function of the event and its scope returning `Resolved`: the user
ids (a SELECT of ids, or a collection), and any non-user destinations (the public). It
does no I/O itself; `resolve_recipients` turns every audience into recipients with one
query per audience, however many people it names, and tags each person with every
audience that reached them.

Built in here, from the data that exists now: `requester`, `assignee`, `agents`,
`employees`, `mentioned`, `public`. `followers` and `service_subscribers` reach nobody
until the following issue registers its resolvers (registering a name again replaces it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, case, exists, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role, Ticket, User
from app.policy.decisions.sources import EventScope
from app.policy.engine.document import AUDIENCES, Audience, Channel, PolicyDocument
from app.policy.engine.evaluator import PolicyEvent, Recipient
from app.policy.engine.schedule import Preferences
from app.tickets.repository import visible_to

UserIds = Select[int] | Select[int | None] | Collection[int]


@dataclass(frozen=True, slots=True)
class Resolved:
    """An audience for one event: user ids, and destinations that are not users."""

    users: UserIds | None = None
    destinations: tuple[Recipient, ...] = ()


AudienceResolver = Callable[[PolicyEvent, EventScope], Resolved]


@dataclass(frozen=True, slots=True)
class Delivery:
    """The channels a user accepts and their timing preferences."""

    channels: frozenset[Channel]
    preferences: Preferences


DeliveryLoader = Callable[[AsyncSession, Collection[int]], Awaitable[Mapping[int, Delivery]]]

_RESOLVERS: dict[str, AudienceResolver] = {}
# Large id lists are sent in slices: drivers cap the bound parameters of one statement.
_CHUNK = 5000
_DEFAULT_DELIVERY = Delivery(frozenset({"in_app", "email"}), Preferences())
PUBLIC_CHANNELS: frozenset[Channel] = frozenset({"status_page", "feed", "subscribers"})


def register_audience(audience: Audience, resolver: AudienceResolver) -> None:
    """Let the domain that owns an audience say who is in it (registering again replaces)."""
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}; audiences are {', '.join(AUDIENCES)}")
    _RESOLVERS[audience] = resolver


def audiences_for(policy: PolicyDocument, event_type: str) -> frozenset[Audience]:
    """The audiences some rule addresses for this event type: only those are resolved."""
    return frozenset(a for rule in policy.rules if event_type in rule.on for a in rule.to)


async def default_delivery(
    session: AsyncSession, user_ids: Collection[int]
) -> Mapping[int, Delivery]:
    """In-app and e-mail for everyone, no quiet hours (preferences: the notifications issue)."""
    return dict.fromkeys(user_ids, _DEFAULT_DELIVERY)


_delivery_loader: DeliveryLoader = default_delivery


def set_delivery_loader(loader: DeliveryLoader) -> None:
    """Replace how channels and preferences are read (the notifications issue does this)."""
    global _delivery_loader
    _delivery_loader = loader


async def resolve_recipients(
    session: AsyncSession,
    event: PolicyEvent,
    scope: EventScope,
    audiences: Iterable[Audience],
) -> list[Recipient]:
    """Every active user and destination in `audiences`, each once, with all its audiences."""
    people: dict[int, tuple[str, bool, set[Audience]]] = {}
    destinations: dict[str, Recipient] = {}
    for audience in sorted(set(audiences)):
        resolver = _RESOLVERS.get(audience)
        resolved = resolver(event, scope) if resolver is not None else Resolved()
        for destination in resolved.destinations:
            known = destinations.get(destination.key)
            tags = destination.audiences | {audience} | (known.audiences if known else set())
            destinations[destination.key] = _with_audiences(destination, tags)
        if resolved.users is None:
            continue
        for user_id, role, may_see in await _active_users(session, resolved.users, event, scope):
            people.setdefault(user_id, (role, may_see, set()))[2].add(audience)
    delivery = await _delivery_loader(session, list(people))
    recipients = [
        Recipient(
            key=f"user:{user_id}",
            role=cast(Any, role),
            audiences=frozenset(tags),
            channels=delivery.get(user_id, _DEFAULT_DELIVERY).channels,
            may_see_ticket=may_see,
            user_id=user_id,
            preferences=delivery.get(user_id, _DEFAULT_DELIVERY).preferences,
        )
        for user_id, (role, may_see, tags) in sorted(people.items())
    ]
    return recipients + [destinations[key] for key in sorted(destinations)]


def _with_audiences(recipient: Recipient, audiences: Iterable[Audience]) -> Recipient:
    return Recipient(
        key=recipient.key,
        role=recipient.role,
        audiences=frozenset(audiences),
        channels=recipient.channels,
        may_see_ticket=recipient.may_see_ticket,
        user_id=recipient.user_id,
        internal_destination=recipient.internal_destination,
        preferences=recipient.preferences,
    )


async def _active_users(
    session: AsyncSession, users: UserIds, event: PolicyEvent, scope: EventScope
) -> list[tuple[int, str, bool]]:
    may_see = _may_see(event, scope)
    base = select(User.id, User.role, may_see).where(User.is_active.is_(True))
    if isinstance(users, Select):
        statements = [base.where(User.id.in_(users))]
    else:
        ids = sorted({int(i) for i in users if i is not None})
        chunks = [ids[start : start + _CHUNK] for start in range(0, len(ids), _CHUNK)]
        statements = [base.where(User.id.in_(chunk)) for chunk in chunks]
    rows: list[tuple[int, str, bool]] = []
    for statement in statements:
        result = await session.execute(statement)
        rows += [(int(uid), Role(role).value, bool(seen)) for uid, role, seen in result.all()]
    return rows


class _EveryUserOfRole:
    """Stands in for "any user row with this role" so `visible_to` yields a SQL expression.

    The tickets domain owns the visibility rule (`app.tickets.repository.visible_to`);
    handing it the `users.id` column instead of one user's id turns its answer into a
    correlated condition, decided by the database for 10,000 people in one query rather
    than in 10,000. A rule that starts reading another attribute fails here loudly.
    """

    def __init__(self, role: Role) -> None:
        self.role = role
        self.id = User.id


def _may_see(event: PolicyEvent, scope: EventScope) -> ColumnElement[bool]:
    if event.ticket is None:
        return true()  # content about no ticket (a status update)
    if scope.ticket_id is None:
        return false()  # cannot check the ticket, so nobody outside staff destinations
    whens = []
    for role in Role:
        rule = visible_to(cast(User, _EveryUserOfRole(role)))
        visible = exists(select(Ticket.id).where(Ticket.id == scope.ticket_id, rule))
        whens.append((User.role == role, visible))
    return case(*whens, else_=false())


# --- the audiences the current data supports -------------------------------------------


def _requester(event: PolicyEvent, _scope: EventScope) -> Resolved:
    ticket = event.ticket
    found = ticket.requester_id if ticket is not None else None
    return Resolved(users=[found] if found is not None else None)


def _assignee(event: PolicyEvent, _scope: EventScope) -> Resolved:
    ticket = event.ticket
    found = ticket.assignee_id if ticket is not None else None
    return Resolved(users=[found] if found is not None else None)


def _agents(_event: PolicyEvent, _scope: EventScope) -> Resolved:
    return Resolved(users=select(User.id).where(User.role.in_([Role.AGENT, Role.ADMIN])))


def _employees(_event: PolicyEvent, _scope: EventScope) -> Resolved:
    return Resolved(users=select(User.id))  # every active user, staff included


def _mentioned(event: PolicyEvent, _scope: EventScope) -> Resolved:
    return Resolved(users=event.mentions or None)


def _public(event: PolicyEvent, _scope: EventScope) -> Resolved:
    # One recipient standing for everyone outside: the status page, feeds and subscribers.
    public = Recipient(
        key="public",
        role="public",
        audiences=frozenset({"public"}),
        channels=PUBLIC_CHANNELS,
        may_see_ticket=event.ticket is None,
    )
    return Resolved(destinations=(public,))


def _nobody_yet(_event: PolicyEvent, _scope: EventScope) -> Resolved:
    """Placeholder for audiences whose domain has not registered them (followers, ...)."""
    return Resolved()


register_audience("requester", _requester)
register_audience("assignee", _assignee)
register_audience("agents", _agents)
register_audience("employees", _employees)
register_audience("mentioned", _mentioned)
register_audience("public", _public)
register_audience("followers", _nobody_yet)
register_audience("service_subscribers", _nobody_yet)
