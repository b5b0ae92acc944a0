"""A person's notification preferences: channels, quiet hours, digest mode, destinations.

URLs and signing secrets of destinations are sealed with the SecretBox and never returned;
the API shows a masked URL. Only staff may mark a destination internal (staff-only).
Unless private destinations are allowed, a URL whose host is an address of a private
network (or `localhost`) is refused when saved; the channels check names again on send.
`delivery_for` is what the policy reads to know each recipient's channels and timing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, time
from typing import Literal, cast
from urllib.parse import urlsplit

import apprise
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import Forbidden, InvalidInput
from app.kit.secrets import SecretBox
from app.models import NotificationDestination, NotificationPreference, User
from app.notifications import repository
from app.notifications.channels.destinations import saved_refusal
from app.notifications.schemas import (
    AppriseIn,
    DestinationOut,
    PreferencesOut,
    PreferencesUpdate,
    QuietHours,
    WebhookIn,
)
from app.policy.decisions.audiences import Delivery
from app.policy.engine.document import Channel
from app.policy.engine.schedule import DigestMode, Preferences
from app.policy.engine.schedule import QuietHours as PolicyQuietHours

DestinationKind = Literal["webhook", "apprise"]


async def _preference(session: AsyncSession, user_id: int) -> NotificationPreference:
    found = await session.get(NotificationPreference, user_id)
    if found is None:
        found = NotificationPreference(
            user_id=user_id, email_enabled=True, timezone="UTC", digest="immediate"
        )
        session.add(found)
    return found


async def display_timezone(session: AsyncSession, *, user_id: int) -> str:
    """The zone a person reads times in (pages, quiet hours); UTC until they choose one."""
    stmt = select(NotificationPreference.timezone).where(NotificationPreference.user_id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none() or "UTC"


def mask_url(kind: str, url: str) -> str:
    """Enough of a URL to recognise it, never enough to use it."""
    if kind == "apprise":
        plugin = apprise.Apprise.instantiate(url)
        masked = plugin.url(privacy=True) if plugin else url.split("://", 1)[0] + "://..."  # type: ignore[no-untyped-call]
        return str(masked)[:300]
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/..."[:300]


def _out(dest: NotificationDestination) -> DestinationOut:
    return DestinationOut(
        id=dest.id,
        kind=cast(DestinationKind, dest.kind),
        label=dest.label,
        url=dest.url_masked,
        internal=dest.internal,
        enabled=dest.enabled,
        consecutive_failures=dest.consecutive_failures,
        disabled_reason=dest.disabled_reason,
        has_secret=dest.kind == "webhook",
    )


async def get_preferences(session: AsyncSession, *, user: User) -> PreferencesOut:
    """The caller's preferences (defaults when never set), destinations masked."""
    pref = await session.get(NotificationPreference, user.id)
    destinations = await repository.destinations_of(session, [user.id], enabled_only=False)
    quiet = None
    if pref is not None and pref.quiet_start and pref.quiet_end:
        quiet = QuietHours(start=pref.quiet_start, end=pref.quiet_end, timezone=pref.timezone)
    webhook = next((d for d in destinations if d.kind == "webhook"), None)
    return PreferencesOut(
        email=pref.email_enabled if pref else True,
        timezone=pref.timezone if pref else "UTC",
        quiet_hours=quiet,
        digest=cast(DigestMode, pref.digest if pref else "immediate"),
        apprise=[_out(d) for d in destinations if d.kind == "apprise"],
        webhook=_out(webhook) if webhook else None,
    )


async def do_update_preferences(
    session: AsyncSession,
    *,
    user: User,
    update: PreferencesUpdate,
    box: SecretBox,
    allow_private_destinations: bool = False,
) -> PreferencesOut:
    """Apply the fields given; omitted ones stay, `null` removes quiet hours or the webhook."""
    given = update.model_fields_set
    if not allow_private_destinations:
        _refuse_private_destinations(update)
    wants_internal = any(a.internal for a in update.apprise or []) or bool(
        update.webhook and update.webhook.internal
    )
    if wants_internal and not user.role.is_staff:
        raise Forbidden("only staff may mark a destination internal (staff-only)")
    pref = await _preference(session, user.id)
    if update.email is not None:
        pref.email_enabled = update.email
    if update.digest is not None:
        pref.digest = update.digest
    if update.timezone is not None:
        pref.timezone = update.timezone
    if "quiet_hours" in given:
        quiet = update.quiet_hours
        pref.quiet_start = quiet.start if quiet else None
        pref.quiet_end = quiet.end if quiet else None
        if quiet:  # one zone per person: removing quiet hours keeps it
            pref.timezone = quiet.timezone
    stored = await repository.destinations_of(session, [user.id], enabled_only=False)
    if update.apprise is not None:
        await _replace_apprise(session, user, update.apprise, stored, box)
    if "webhook" in given:
        current = next((d for d in stored if d.kind == "webhook"), None)
        await _set_webhook(session, user, update.webhook, current, box)
    await session.flush()
    return await get_preferences(session, user=user)


def _refuse_private_destinations(update: PreferencesUpdate) -> None:
    """InvalidInput when a new URL points at a private network (IP literals, localhost)."""
    urls = [(f"apprise.{i}.url", "apprise", a.url) for i, a in enumerate(update.apprise or [])]
    if update.webhook is not None:
        urls.append(("webhook.url", "webhook", update.webhook.url))
    for field, kind, url in urls:
        reason = None if url is None else saved_refusal(kind, url)
        if reason is not None:
            raise InvalidInput(
                f"{field}: {reason}",
                details=[{"field": field, "message": reason, "type": "private_destination"}],
            )


async def _replace_apprise(
    session: AsyncSession,
    user: User,
    wanted: list[AppriseIn],
    stored: list[NotificationDestination],
    box: SecretBox,
) -> None:
    by_id = {d.id: d for d in stored if d.kind == "apprise"}
    unknown = [a.id for a in wanted if a.id is not None and a.id not in by_id]
    if unknown:
        raise InvalidInput(f"no stored Apprise destination with id {unknown[0]}")
    keep = {a.id for a in wanted if a.id is not None}
    for dest_id, dest in by_id.items():
        if dest_id not in keep:
            await session.delete(dest)
    for item in wanted:
        if item.url is not None and not apprise.Apprise().add(item.url):
            raise InvalidInput("not an Apprise URL Apprise can use", details=[{"field": "apprise"}])
        stored_one = by_id[item.id] if item.id is not None else None
        dest = _store(session, user, "apprise", stored_one, item.url, None, box)
        _flags(dest, label=item.label, internal=item.internal, enabled=item.enabled)


async def _set_webhook(
    session: AsyncSession,
    user: User,
    wanted: WebhookIn | None,
    current: NotificationDestination | None,
    box: SecretBox,
) -> None:
    if wanted is None:
        if current is not None:
            await session.delete(current)
        return
    if current is None and (wanted.url is None or wanted.secret is None):
        raise InvalidInput("a new webhook needs a url and a secret (16 characters or more)")
    dest = _store(session, user, "webhook", current, wanted.url, wanted.secret, box)
    _flags(dest, label=wanted.label, internal=wanted.internal, enabled=wanted.enabled)


def _store(
    session: AsyncSession,
    user: User,
    kind: DestinationKind,
    dest: NotificationDestination | None,
    url: str | None,
    secret: str | None,
    box: SecretBox,
) -> NotificationDestination:
    """Create a destination, or reseal the URL/secret of a stored one when new ones are given."""
    if dest is None:
        assert url is not None  # the schemas require it for a new destination
        sealed = box.seal({"url": url, **({"secret": secret} if secret else {})})
        dest = NotificationDestination(
            user_id=user.id, kind=kind, secrets_sealed=sealed, url_masked=mask_url(kind, url),
            consecutive_failures=0, enabled=True, internal=False,
        )  # fmt: skip
        session.add(dest)
        return dest
    if url is None and secret is None:
        return dest
    values = box.open(dest.secrets_sealed)
    if url is not None:
        values["url"] = url
        dest.url_masked = mask_url(kind, url)
    if secret is not None:
        values["secret"] = secret
    dest.secrets_sealed = box.seal(values)
    return dest


def _flags(dest: NotificationDestination, *, label: str, internal: bool, enabled: bool) -> None:
    dest.label = label
    dest.internal = internal
    if enabled and not dest.enabled:
        # The owner turned it back on: give it a clean slate.
        dest.consecutive_failures = 0
        dest.disabled_reason = None
    dest.enabled = enabled


async def do_disable_email(session: AsyncSession, *, user_id: int) -> None:
    """Stop notification e-mails for a person (the unsubscribe link)."""
    pref = await _preference(session, user_id)
    pref.email_enabled = False
    await session.flush()


def schedule_preferences(pref: NotificationPreference | None) -> Preferences:
    """The timing preferences the policy's scheduler reads."""
    if pref is None:
        return Preferences()
    quiet = None
    if pref.quiet_start and pref.quiet_end:
        quiet = PolicyQuietHours(
            time.fromisoformat(pref.quiet_start), time.fromisoformat(pref.quiet_end)
        )
    return Preferences(
        timezone=pref.timezone, quiet_hours=quiet, digest=cast(DigestMode, pref.digest)
    )


_DEFAULT = Delivery(frozenset({"in_app", "email"}), Preferences())


async def delivery_for(session: AsyncSession, user_ids: Collection[int]) -> Mapping[int, Delivery]:
    """Each user's channels (in-app always) and timing, for the policy's delivery loader."""
    prefs = await repository.preferences_of(session, user_ids)
    kinds: dict[int, set[Channel]] = {}
    for dest in await repository.destinations_of(session, user_ids, enabled_only=True):
        kinds.setdefault(dest.user_id, set()).add(cast(Channel, dest.kind))
    found: dict[int, Delivery] = {}
    for user_id in user_ids:
        pref = prefs.get(user_id)
        extra = kinds.get(user_id)
        if pref is None and not extra:
            found[user_id] = _DEFAULT  # the common case: shared, not rebuilt 10,000 times
            continue
        channels: set[Channel] = {"in_app", *(extra or ())}
        if pref is None or pref.email_enabled:
            channels.add("email")
        found[user_id] = Delivery(frozenset(channels), schedule_preferences(pref))
    return found


async def do_record_destination_health(
    session: AsyncSession,
    outcomes: Mapping[int, Sequence[tuple[bool, str]]],
    *,
    now: datetime,
    disable_after: int,
) -> None:
    """Count consecutive failures per destination; disable one after `disable_after`."""
    if not outcomes:
        return
    stmt = select(NotificationDestination).where(NotificationDestination.id.in_(outcomes))
    for dest in (await session.execute(stmt)).scalars():
        for ok, detail in outcomes[dest.id]:
            if ok:
                dest.consecutive_failures = 0
                continue
            dest.consecutive_failures += 1
            dest.last_failure_at = now
            if dest.enabled and dest.consecutive_failures >= disable_after:
                dest.enabled = False
                dest.disabled_reason = (
                    f"disabled after {dest.consecutive_failures} failed deliveries in a row;"
                    f" last: {detail}"
                )[:1000]
    await session.flush()
