"""How the domains are plugged into each other, in one place.

Domains expose hooks (audience resolvers, decision listeners, message listeners, event
loaders) instead of importing each other; this module connects them. `wire_domains()` is
idempotent and runs when the app or a worker starts (and once in the test suite).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.chat import events as chat_events
from app.chat.service import message_listeners
from app.chat.writeback import schedule_writeback
from app.followers.audiences import register_audiences
from app.metrics.surveys import request_on_resolution
from app.notifications.compose import register_composer
from app.notifications.preferences import delivery_for
from app.outbox.enqueue import enqueue_deliveries
from app.outbox.repository import undelivered
from app.policy.decisions import records, ticket_events
from app.policy.decisions.audiences import set_delivery_loader
from app.policy.decisions.sources import EventScope, register_event_loader
from app.policy.engine.evaluator import Decision, PolicyEvent
from app.policy.operations.retention import register_decision_keeper
from app.status import events as status_events
from app.status.subscribers.mails import compose_status_mails
from app.status.subscribers.outbox import CHANNEL as STATUS_EMAIL_CHANNEL
from app.status.webhooks.enqueue import CHANNEL as STATUS_WEBHOOK_CHANNEL
from app.status.webhooks.messages import compose_webhooks

_wired = False


async def _enqueue(
    session: AsyncSession, event: PolicyEvent, scope: EventScope, decisions: Sequence[Decision]
) -> None:
    """Decisions become outbox rows in the same transaction (nothing lost, nothing twice)."""
    await enqueue_deliveries(session, event, decisions, ticket_id=scope.ticket_id)


def wire_domains() -> None:
    global _wired
    if _wired:
        return
    register_audiences()  # followers, service_subscribers
    set_delivery_loader(delivery_for)  # each user's channels, quiet hours and digest mode
    records.decision_listeners.append(_enqueue)
    # CSAT survey after resolution. Also called with the decisions an approval releases;
    # the survey is keyed by the resolution event, so it is asked once either way.
    records.decision_listeners.append(request_on_resolution)
    # Approved held events are read back by key from the domain that stores them and
    # released (app.policy.decisions.release). Survey requests (`survey:<id>`) have none: a policy
    # that holds them gets approvals that release nothing and say so in their audit.
    register_event_loader(ticket_events.EVENT_KEY_PREFIX, ticket_events.load_ticket_event)
    register_event_loader(chat_events.EVENT_KEY_PREFIX, chat_events.load_chat_message_event)
    register_event_loader(status_events.EVENT_KEY_PREFIX, status_events.load_status_update_event)
    # Status webhooks: the status domain composes its own outbox rows (published updates).
    register_composer(STATUS_WEBHOOK_CHANNEL, compose_webhooks)
    # Status e-mail subscribers: confirmations and published public updates, the same way.
    register_composer(STATUS_EMAIL_CHANNEL, compose_status_mails)
    # Decision retention keeps the decisions of events the outbox has not delivered yet.
    register_decision_keeper("undelivered outbox rows", undelivered)
    # Chat write-back is the default rule (public -> public comment, internal -> internal
    # note), scheduled in the transaction that stores the messages.
    message_listeners.append(schedule_writeback)
    # chat.message reactions run in app.chat.events.ChatNotifier (a worker), off the
    # chat write path; see Runtime.start_workers.
    _wired = True
