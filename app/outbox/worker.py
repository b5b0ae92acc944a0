"""The delivery worker as a process runs it: every channel, the active policy's redaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.ticket_links import PURPOSE as TICKET_LINK_PURPOSE
from app.config import Settings
from app.kit.secrets import SecretBox
from app.kit.signing import Signer
from app.mailin.addresses import reply_addresses
from app.metrics.surveys import PURPOSE as SURVEY_PURPOSE
from app.notifications.channels import Channel
from app.notifications.channels.apprise_urls import AppriseChannel
from app.notifications.channels.email import EmailChannel, StatusEmailChannel
from app.notifications.channels.in_app import InAppChannel
from app.notifications.channels.status_webhook import StatusWebhookChannel
from app.notifications.channels.webhook import WebhookChannel
from app.notifications.compose import UNSUBSCRIBE_PURPOSE, ComposeSettings
from app.outbox.relay import Relay, RelaySettings
from app.policy.engine.document import RedactionSettings
from app.policy.service import active_policy
from app.realtime.bus import Bus
from app.status.subscribers.service import CONFIRM_PURPOSE as STATUS_CONFIRM
from app.status.subscribers.service import UNSUBSCRIBE_PURPOSE as STATUS_UNSUBSCRIBE


async def active_redaction(session: AsyncSession) -> RedactionSettings:
    """The redaction settings of the policy in force."""
    return (await active_policy(session)).document.redaction


def build_relay(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    bus: Bus,
    box: SecretBox,
    http: httpx.AsyncClient,
    *,
    relay_settings: RelaySettings | None = None,
    wake: Callable[[], asyncio.Event] | None = None,
) -> Relay:
    """A relay with the in-app, e-mail, webhook, Apprise, status e-mail and status webhook
    channels."""
    channels: dict[str, Channel] = {
        "in_app": InAppChannel(sessionmaker, bus),
        "email": EmailChannel(settings.smtp_url, base_url=settings.base_url),
        "webhook": WebhookChannel(http, allow_private=settings.allow_private_destinations),
        "apprise": AppriseChannel(allow_private=settings.allow_private_destinations),
        "status_email": StatusEmailChannel(settings.smtp_url, base_url=settings.base_url),
        "status_webhook": StatusWebhookChannel(http),
    }
    secret = settings.require_secret_key()
    compose_settings = ComposeSettings(
        base_url=settings.base_url,
        box=box,
        unsubscribe=Signer(secret, UNSUBSCRIBE_PURPOSE),
        survey=Signer(secret, SURVEY_PURPOSE),
        signers={
            purpose: Signer(secret, purpose) for purpose in (STATUS_CONFIRM, STATUS_UNSUBSCRIBE)
        },
        replies=reply_addresses(settings),
        ticket_links=Signer(secret, TICKET_LINK_PURPOSE),
    )
    return Relay(
        sessionmaker,
        channels,
        compose_settings,
        settings=relay_settings,
        redaction=active_redaction,
        wake=wake,
    )
