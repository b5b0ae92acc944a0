"""External subscribers (e-mail with double opt-in, webhooks) and personal feed tokens.

E-mail: `POST /status/subscribe` stores the address with the services asked for as
*pending* and writes an outbox row for the confirmation mail (`status_email` channel,
`app.status.subscribers.outbox`); the relay sends it, composed by
`app.status.subscribers.mails` at send time. Only the
signed link in that mail (`GET /status/subscribe/confirm/{token}`) turns the pending list
into subscriptions. Whatever the address's state, the answer to the form is the same, so
the form does not tell who is subscribed. Every mail carries an unsubscribe link and the
RFC 8058 one-click headers (`POST /status/unsubscribe/{token}` unsubscribes).
Tokens are HMAC-signed and purpose-bound (`app.kit.signing`) and carry the subscriber's
nonce: re-subscribing after an unsubscribe rotates it and kills the older links.

Signed-in people follow services through the following domain, not here.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.errors import AppError, InvalidInput, NotFound
from app.kit.secrets import SecretBox, hash_token
from app.kit.signing import BadToken, Signer
from app.models import Service, Subscriber, User
from app.status import repository
from app.status.schemas import WebhookCreate, WebhookOut
from app.status.subscribers.outbox import enqueue_confirmation

CONFIRM_PURPOSE = "status-subscription-confirm"
UNSUBSCRIBE_PURPOSE = "status-unsubscribe"
CONFIRM_TTL = timedelta(days=7)
# Unsubscribe links must keep working from old mails; the nonce is what revokes them.
UNSUBSCRIBE_TTL = timedelta(days=3650)
FEED_TOKEN_PREFIX = "sdf_"  # noqa: S105 - a prefix, not a secret


async def _public_services(session: AsyncSession, slugs: list[str]) -> list[Service]:
    found = await repository.services_by_slugs(session, slugs)
    # Services the public cannot see are reported exactly like missing ones.
    unknown = [s for s in slugs if s not in found or found[s].visibility != "public"]
    if unknown:
        raise InvalidInput(
            f"unknown service: {', '.join(unknown)}",
            code="unknown_service",
            details={"services": unknown},
        )
    return [found[s] for s in dict.fromkeys(slugs)]


async def do_request_subscription(
    session: AsyncSession, *, email: str, slugs: list[str]
) -> Subscriber:
    """Record a pending e-mail subscription and ask for the confirmation mail."""
    services = await _public_services(session, slugs)
    email = email.strip().lower()
    subscriber = await repository.subscriber_by_email(session, email)
    if subscriber is None:
        subscriber = Subscriber(
            kind="email", email=email, audience="public", token_nonce=secrets.token_hex(16)
        )
        session.add(subscriber)
    elif subscriber.unsubscribed_at is not None:
        subscriber.unsubscribed_at = None
        subscriber.confirmed_at = None
        subscriber.token_nonce = secrets.token_hex(16)
    subscriber.pending_service_ids = [s.id for s in services]
    await session.flush()
    await enqueue_confirmation(session, subscriber.id)
    return subscriber


def sign_confirmation(signer: Signer, subscriber: Subscriber) -> str:
    """`confirmation_token` with a Signer of CONFIRM_PURPOSE (the relay holds one)."""
    claims = {"s": subscriber.id, "n": subscriber.token_nonce}
    return signer.sign(claims, now=utcnow(), ttl=CONFIRM_TTL)


def sign_unsubscribe(signer: Signer, subscriber: Subscriber) -> str:
    """`unsubscribe_token` with a Signer of UNSUBSCRIBE_PURPOSE (the relay holds one)."""
    claims = {"s": subscriber.id, "n": subscriber.token_nonce}
    return signer.sign(claims, now=utcnow(), ttl=UNSUBSCRIBE_TTL)


def confirmation_token(secret_key: str, subscriber: Subscriber) -> str:
    """The signed link token that confirms a pending subscription (valid 7 days)."""
    return sign_confirmation(Signer(secret_key, CONFIRM_PURPOSE), subscriber)


def unsubscribe_token(secret_key: str, subscriber: Subscriber) -> str:
    """The signed link token that stops every mail to this subscriber."""
    return sign_unsubscribe(Signer(secret_key, UNSUBSCRIBE_PURPOSE), subscriber)


CONFIRMATION_SUBJECT = "Confirm your IT status subscription"
CONFIRMATION_TEXT = (
    "Someone, hopefully you, asked to receive IT service status updates at this address. "
    "Confirm within 7 days with the link below.\n\n"
    "Not you? Ignore this mail: nothing is sent to this address without the confirmation."
)


def confirm_url(signer: Signer, base_url: str, subscriber: Subscriber) -> str:
    """The link of the opt-in mail."""
    token = sign_confirmation(signer, subscriber)
    return f"{base_url.rstrip('/')}/status/subscribe/confirm/{token}"


def unsubscribe_url(signer: Signer, base_url: str, subscriber: Subscriber) -> str:
    """The link of the mails' List-Unsubscribe (a page on GET, one-click on POST)."""
    return f"{base_url.rstrip('/')}/status/unsubscribe/{sign_unsubscribe(signer, subscriber)}"


class InvalidLink(AppError):
    """A subscription link that is forged, expired, for another purpose, or revoked."""

    status_code, code = 400, "invalid_token"


async def _subscriber_from(
    session: AsyncSession, secret_key: str, purpose: str, token: str
) -> Subscriber:
    try:
        claims = Signer(secret_key, purpose).verify(token, now=utcnow())
    except BadToken:
        raise InvalidLink("this link is invalid or has expired") from None
    subscriber_id, nonce = claims.get("s"), claims.get("n")
    subscriber = (
        await repository.get_subscriber(session, subscriber_id)
        if isinstance(subscriber_id, int)
        else None
    )
    if subscriber is None or not secrets.compare_digest(str(nonce), subscriber.token_nonce):
        raise InvalidLink("this link is invalid or has expired")
    return subscriber


async def do_confirm_subscription(
    session: AsyncSession, *, secret_key: str, token: str
) -> tuple[Subscriber, list[Service]]:
    """Turn the pending services into subscriptions (the address is proven to be theirs)."""
    subscriber = await _subscriber_from(session, secret_key, CONFIRM_PURPOSE, token)
    if subscriber.unsubscribed_at is not None:
        raise InvalidLink("this link is invalid or has expired")
    if subscriber.pending_service_ids:
        await repository.replace_subscriptions(
            session, subscriber_id=subscriber.id, service_ids=subscriber.pending_service_ids
        )
        subscriber.pending_service_ids = []
    subscriber.confirmed_at = subscriber.confirmed_at or utcnow()
    await session.flush()
    services = (await repository.subscribed_services(session, [subscriber.id]))[subscriber.id]
    return subscriber, services


async def do_unsubscribe(session: AsyncSession, *, secret_key: str, token: str) -> Subscriber:
    """Stop every mail to this subscriber (idempotent)."""
    subscriber = await _subscriber_from(session, secret_key, UNSUBSCRIBE_PURPOSE, token)
    if subscriber.unsubscribed_at is None:
        subscriber.unsubscribed_at = utcnow()
        subscriber.pending_service_ids = []
        await repository.replace_subscriptions(session, subscriber_id=subscriber.id, service_ids=[])
    return subscriber


async def check_unsubscribe_token(session: AsyncSession, *, secret_key: str, token: str) -> None:
    """Raise the same 4xx as `do_unsubscribe` for a bad link, changing nothing."""
    await _subscriber_from(session, secret_key, UNSUBSCRIBE_PURPOSE, token)


# --- webhooks -----------------------------------------------------------------------------


async def do_add_webhook(
    session: AsyncSession, *, data: WebhookCreate, box: SecretBox, user: User
) -> WebhookOut:
    """Register a webhook destination for some services; delivery is the notifications'."""
    found = await repository.services_by_slugs(session, data.services)
    unknown = [s for s in data.services if s not in found]
    if unknown:
        raise InvalidInput(
            f"unknown service: {', '.join(unknown)}",
            code="unknown_service",
            details={"services": unknown},
        )
    webhook = Subscriber(
        kind="webhook",
        url=str(data.url),
        secret_sealed=box.seal({"secret": data.secret}),
        audience=data.audience,
        token_nonce=secrets.token_hex(16),
        confirmed_at=utcnow(),  # an admin registered it: no opt-in round trip
        created_by_user_id=user.id,
    )
    session.add(webhook)
    await session.flush()
    await repository.replace_subscriptions(
        session, subscriber_id=webhook.id, service_ids=[found[s].id for s in data.services]
    )
    return _webhook_out(webhook, [found[s] for s in dict.fromkeys(data.services)])


def _webhook_out(webhook: Subscriber, services: list[Service]) -> WebhookOut:
    return WebhookOut(
        id=webhook.id,
        url=webhook.url or "",
        audience=webhook.audience,
        services=[s.slug for s in services],
        created_at=webhook.created_at,
    )


async def list_webhooks(session: AsyncSession) -> list[WebhookOut]:
    """Active webhook subscribers with their services (secrets stay sealed)."""
    hooks = await repository.webhooks(session)
    services = await repository.subscribed_services(session, [h.id for h in hooks])
    return [_webhook_out(h, services[h.id]) for h in hooks]


async def do_remove_webhook(session: AsyncSession, *, webhook_id: int) -> None:
    """Stop a webhook subscriber (kept for the record, marked unsubscribed)."""
    webhook = await repository.get_subscriber(session, webhook_id)
    if webhook is None or webhook.kind != "webhook" or webhook.unsubscribed_at is not None:
        raise NotFound("webhook not found")
    webhook.unsubscribed_at = utcnow()
    await repository.replace_subscriptions(session, subscriber_id=webhook.id, service_ids=[])


# --- feed tokens --------------------------------------------------------------------------


async def do_rotate_feed_token(session: AsyncSession, *, user: User) -> str:
    """A new personal feed token (the old one stops working); shown once, stored hashed."""
    token = FEED_TOKEN_PREFIX + secrets.token_urlsafe(32)
    await repository.replace_feed_token(session, user_id=user.id, token_hash=hash_token(token))
    return token
