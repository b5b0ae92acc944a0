"""Claimed outbox rows become messages, from what is true now in the database.

For each row: the recipient's current role (not what a decision claimed), whether they
may still see the ticket (the tickets domain's own rule), whether they still want e-mail,
the destination and whether it is marked internal; then each part's text redacted with its
decision's profile. Parts the egress guard refuses are dropped here already (a digest
keeps its other parts); the channel runs the guard once more right before handing out.

Rows of a channel whose destinations are no user's (the status domain's webhooks) are
composed by the composer that domain registered for that channel (`register_composer`,
connected in `app.wiring`), under the same rules: from the database as it is now, every
text through the egress guard, refusals reported in `unsent`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.ticket_links import ticket_link
from app.kit.secrets import SecretBox
from app.kit.signing import Signer
from app.mailin.addresses import ReplyAddresses
from app.metrics.surveys import survey_link
from app.models import Delivery, NotificationDestination, Role, Ticket, User
from app.notifications import repository
from app.notifications.content import OutboundMessage, Section, Target
from app.notifications.rendering import heading, subject_for
from app.policy.engine.document import ProfileName, RedactionSettings
from app.policy.guard.egress import (
    ContentVisibility,
    InternalContentLeak,
    destination_is_internal,
    guard_egress,
)
from app.policy.guard.redaction import redact
from app.tickets.repository import visible_to

log = logging.getLogger(__name__)

UNSUBSCRIBE_PURPOSE = "unsubscribe"
UNSUBSCRIBE_TTL = timedelta(days=90)
_STRENGTH = {"none": 0, "standard": 1, "strict": 2}


@dataclass(frozen=True, slots=True)
class ComposeSettings:
    base_url: str
    box: SecretBox
    unsubscribe: Signer
    # Signs the one-click link of `survey.requested` messages (app.metrics.surveys).
    survey: Signer | None = None
    # Signers of the links other domains' composers put in their mails, by purpose (the
    # status subscribers' confirm and unsubscribe links).
    signers: Mapping[str, Signer] = field(default_factory=dict)
    # The active policy's internal domains and custom patterns (read once per pass).
    redaction: RedactionSettings = field(default_factory=RedactionSettings)
    # Signs the Reply-To of ticket mails (None: SOCIALDESK_REPLY_DOMAIN unset, no Reply-To).
    replies: ReplyAddresses | None = None
    # Signs the password-free ticket links of end users' mails (app.auth.ticket_links).
    ticket_links: Signer | None = None


@dataclass
class Composed:
    """Messages ready for their channels, and rows that will not be sent (with why)."""

    messages: list[OutboundMessage] = field(default_factory=list)
    # delivery id -> (outcome, detail): skipped (nothing to send) or refused (egress).
    unsent: dict[int, tuple[str, str]] = field(default_factory=dict)
    # digest items the guard dropped from their digest: item id -> reason.
    refused_items: dict[int, str] = field(default_factory=dict)


ChannelComposer = Callable[
    [AsyncSession, Sequence[Delivery], ComposeSettings, datetime], Awaitable[Composed]
]
# Channel key -> the composer of its rows (registered by the domain that owns the channel).
composers: dict[str, ChannelComposer] = {}


def register_composer(channel: str, composer: ChannelComposer) -> None:
    """Let a domain compose the rows of its own channel (idempotent per channel)."""
    composers[channel] = composer


class _RoleStandIn:
    """Every user row of one role, so the tickets domain's `visible_to` becomes one query.

    Handing `visible_to` the users.id column instead of one user's id turns its answer
    into a correlated condition decided by the database for a whole batch.
    """

    def __init__(self, role: Role) -> None:
        self.role = role
        self.id = User.id


async def visible_pairs(
    session: AsyncSession, users: Collection[User], ticket_ids: Collection[int]
) -> set[tuple[int, int]]:
    """The (user id, ticket id) pairs where the user may see the ticket now."""
    found: set[tuple[int, int]] = set()
    if not users or not ticket_ids:
        return found
    for role in {user.role for user in users}:
        ids = [user.id for user in users if user.role is role]
        rule = visible_to(cast(User, _RoleStandIn(role)))
        # An explicit cross join: the rule may not relate users and tickets at all (staff).
        stmt = (
            select(User.id, Ticket.id)
            .select_from(User)
            .join(Ticket, true())
            .where(User.id.in_(ids), Ticket.id.in_(ticket_ids), rule)
        )
        found.update((uid, tid) for uid, tid in (await session.execute(stmt)).all())
    return found


@dataclass
class _Batch:
    users: dict[int, User]
    tickets: dict[int, Ticket]
    email_off: set[int]
    destinations: dict[int, NotificationDestination]
    items: dict[int, list[Delivery]]
    visible: set[tuple[int, int]]
    # One event reaches thousands of people with the same text: redact it once per profile.
    redacted: dict[tuple[str, str], str] = field(default_factory=dict)


async def _load(session: AsyncSession, rows: Sequence[Delivery]) -> _Batch:
    digest_ids = [r.id for r in rows if r.payload.get("digest")]
    items: dict[int, list[Delivery]] = {}
    if digest_ids:
        stmt = select(Delivery).where(Delivery.digest_id.in_(digest_ids)).order_by(Delivery.id)
        for item in (await session.execute(stmt)).scalars():
            items.setdefault(item.digest_id or 0, []).append(item)
    user_ids = {r.user_id for r in rows if r.user_id is not None}
    users = {
        u.id: u
        for u in (await session.execute(select(User).where(User.id.in_(user_ids)))).scalars()
    }
    ticket_ids = {
        r.ticket_id for r in [*rows, *(i for g in items.values() for i in g)] if r.ticket_id
    }
    tickets = {
        t.id: t
        for t in (await session.execute(select(Ticket).where(Ticket.id.in_(ticket_ids)))).scalars()
    }
    email_users = {r.user_id for r in rows if r.channel == "email" and r.user_id is not None}
    prefs = await repository.preferences_of(session, email_users)
    dest_ids = {r.destination_id for r in rows if r.destination_id is not None}
    stmt_d = select(NotificationDestination).where(NotificationDestination.id.in_(dest_ids))
    destinations = {d.id: d for d in (await session.execute(stmt_d)).scalars()}
    return _Batch(
        users=users,
        tickets=tickets,
        email_off={uid for uid, p in prefs.items() if not p.email_enabled},
        destinations=destinations,
        items=items,
        visible=await visible_pairs(session, list(users.values()), list(tickets)),
    )  # fmt: skip


async def compose(
    session: AsyncSession, rows: Sequence[Delivery], settings: ComposeSettings, *, now: datetime
) -> Composed:
    """Messages for claimed rows; rows with nothing to send are reported in `unsent`."""
    composed = Composed()
    foreign: dict[str, list[Delivery]] = {}
    for row in rows:
        if row.channel in composers:
            foreign.setdefault(row.channel, []).append(row)
    for channel, group in foreign.items():
        try:
            async with session.begin_nested():  # a failed composer leaves the pass usable
                part = await composers[channel](session, group, settings, now)
        except Exception as exc:  # a composer bug must not hold up the other channels
            log.exception("deliveries of %s cannot be composed", channel)
            reason = ("failed", f"cannot be composed: {type(exc).__name__}")
            part = Composed(unsent=dict.fromkeys((r.id for r in group), reason))
        composed.messages += part.messages
        composed.unsent.update(part.unsent)
        composed.refused_items.update(part.refused_items)
    rows = [row for row in rows if row.channel not in composers]
    batch = await _load(session, rows)
    for row in rows:
        try:
            message = _message(row, batch, settings, composed, now)
        except _Unsent as unsent:
            composed.unsent[row.id] = (unsent.outcome, unsent.detail)
            continue
        except Exception as exc:  # one unreadable row must not hold up its whole batch
            log.exception("delivery %s cannot be composed", row.id)
            composed.unsent[row.id] = ("failed", f"cannot be composed: {type(exc).__name__}")
            continue
        composed.messages.append(message)
    return composed


class _Unsent(Exception):
    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


def _message(
    row: Delivery, batch: _Batch, settings: ComposeSettings, composed: Composed, now: datetime
) -> OutboundMessage:
    user = batch.users.get(row.user_id or 0)
    if user is None or not user.is_active:
        raise _Unsent("skipped", "the recipient no longer exists or is inactive")
    if row.channel == "email" and user.id in batch.email_off:
        raise _Unsent("skipped", "the recipient turned e-mail off")
    target, marked = _target(row, batch, settings)
    role = user.role.value
    internal_destination = destination_is_internal(row.channel, role, marked_internal=marked)
    if row.payload.get("digest"):
        sources: list[tuple[int | None, int | None, dict[str, Any]]] = [
            (item.id, item.ticket_id, item.payload) for item in batch.items.get(row.id, [])
        ]
    else:
        sources = [(None, row.ticket_id, row.payload)]
    sections: list[Section] = []
    for item_id, ticket_id, payload in sources:
        for part in payload.get("parts", []):
            section = _section(part, user, ticket_id, item_id, batch, settings)
            try:
                guard_egress(
                    section.visibility, role, internal_destination, section.audience,
                    may_see_ticket=section.may_see_ticket, channel=row.channel,
                )  # fmt: skip
            except InternalContentLeak as leak:
                if item_id is None:
                    raise _Unsent("refused", str(leak)) from None
                composed.refused_items[item_id] = str(leak)
                continue
            sections.append(section)
    if not sections:
        raise _Unsent("skipped", "nothing left to send")
    ticket = batch.tickets.get(row.ticket_id or 0)
    title = _title(ticket, sections, batch, settings)
    link = f"{settings.base_url.rstrip('/')}/tickets/{ticket.id}" if ticket else None
    if (
        ticket is not None
        and row.channel == "email"
        and user.role is Role.END_USER  # staff sign in; their mails link to the page
        and settings.ticket_links is not None
    ):
        link = ticket_link(
            settings.ticket_links, settings.base_url, user_id=user.id, ticket_id=ticket.id, now=now
        )
    survey_key = next(
        (str(p.get("event_key")) for _, _, payload in sources for p in payload.get("parts", [])
         if p.get("type") == "survey.requested"), None,
    )  # fmt: skip
    if survey_key and settings.survey is not None:
        link = survey_link(
            settings.survey,
            settings.base_url,
            survey_id=int(survey_key.split(":")[1]),
            user_id=user.id,
            now=now,
        )
    reply_public = all(section.visibility == "public" for section in sections)
    reply_to = None
    if (
        row.channel == "email"
        and settings.replies is not None
        and ticket is not None
        and not row.payload.get("digest")
        and survey_key is None
    ):
        reply_to = settings.replies.address(
            ticket_id=ticket.id, user_id=user.id, public=reply_public, now=now
        )
    return OutboundMessage(
        delivery_id=row.id,
        idempotency_key=row.idempotency_key,
        channel=row.channel,
        user_id=user.id,
        recipient_role=role,
        recipient_name=user.name,
        recipient_email=user.email,
        destination_internal=internal_destination,
        subject=subject_for(title, sections, digest=bool(row.payload.get("digest"))),
        sections=tuple(sections),
        link=link,
        ticket_id=ticket.id if ticket else None,
        target=target,
        unsubscribe_url=_unsubscribe_url(user, settings, now) if row.channel == "email" else None,
        reply_to=reply_to,
        reply_public=reply_public,
        digest=bool(row.payload.get("digest")),
    )


def _target(row: Delivery, batch: _Batch, settings: ComposeSettings) -> tuple[Target | None, bool]:
    if row.channel not in ("webhook", "apprise"):
        return None, False
    dest = batch.destinations.get(row.destination_id or 0)
    if dest is None or dest.kind != row.channel or dest.user_id != row.user_id:
        raise _Unsent("skipped", "the destination was removed")
    if not dest.enabled:
        raise _Unsent(
            "disabled", f"the destination is disabled: {dest.disabled_reason or 'by its owner'}"
        )
    try:
        secrets = settings.box.open(dest.secrets_sealed)
    except ValueError:
        raise _Unsent(
            "disabled", "the destination cannot be decrypted with this SECRET_KEY"
        ) from None
    return Target(dest.id, secrets["url"], secrets.get("secret"), dest.internal), dest.internal


def _section(
    part: dict[str, Any], user: User, ticket_id: int | None, item_id: int | None,
    batch: _Batch, settings: ComposeSettings,
) -> Section:  # fmt: skip
    decision = part.get("decision") or {}
    profile = cast(ProfileName, decision.get("redaction_profile") or "strict")
    text = _redact(part.get("text") or "", profile, batch, settings)
    ticket = batch.tickets.get(ticket_id or 0)
    may_see = ticket_id is None or (user.id, ticket_id) in batch.visible
    visibility = cast(ContentVisibility, part.get("visibility") or "internal")
    return Section(
        event_type=str(part.get("type")),
        heading=heading(
            part,
            ticket.external_id if ticket and item_id else None,
            internal=visibility == "internal",
        ),
        text=text,
        occurred_at=datetime.fromisoformat(part["occurred_at"]),
        visibility=visibility,
        audience=decision.get("audience"),
        may_see_ticket=may_see,
        ticket_id=ticket_id,
        item_id=item_id,
        profile=profile,
    )


def _redact(text: str, profile: ProfileName, batch: _Batch, settings: ComposeSettings) -> str:
    if not text:
        return text
    found = batch.redacted.get((text, profile))
    if found is None:
        rules = settings.redaction
        found = redact(text, profile, rules.internal_domains, rules.custom_patterns).text
        batch.redacted[(text, profile)] = found
    return found


def _title(
    ticket: Ticket | None, sections: list[Section], batch: _Batch, settings: ComposeSettings
) -> str:
    if ticket is None:
        return ""
    strongest = cast(
        ProfileName, max((s.profile for s in sections), key=lambda p: _STRENGTH.get(p, 2))
    )
    return f"[{ticket.external_id}] {_redact(ticket.title, strongest, batch, settings)}"


def _unsubscribe_url(user: User, settings: ComposeSettings, now: datetime) -> str:
    token = settings.unsubscribe.sign({"u": user.id, "c": "email"}, now=now, ttl=UNSUBSCRIBE_TTL)
    return f"{settings.base_url.rstrip('/')}/unsubscribe/{token}"
