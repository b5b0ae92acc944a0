"""The audiences and channels this issue hands the policy, wired as the lead wires them:
register the resolvers and the delivery loader, `notify_event`, then `enqueue_deliveries`.
"""

from __future__ import annotations

from datetime import time

import pytest
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.followers.audiences import followers_audience, service_subscribers_audience
from app.followers.service import do_follow_service
from app.models import Role, Service
from app.notifications.preferences import delivery_for
from app.outbox.enqueue import enqueue_deliveries
from app.policy.decisions import audiences
from app.policy.decisions.notify import notify_event
from app.policy.decisions.sources import EventScope
from app.policy.engine.document import parse_policy
from app.policy.engine.schedule import QuietHours
from app.policy.service import ActivePolicy, active_policy
from tests.factories import create_ticket, create_user
from tests.notifications.receivers import HttpReceiver
from tests.notifications.support import (
    WEBHOOK_SECRET,
    add_destination,
    inbox_of,
    make_relay,
    statuses,
    ticket_event,
)

HEAR_RESOLUTION = """
rules:
  - id: hear-resolution
    on: [ticket.resolved]
    to: [requester, followers]
    via: [in_app, email, webhook, apprise]
"""


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> None:
    """This issue's audiences and delivery loader; monkeypatch restores them for other tests."""
    monkeypatch.setitem(audiences._RESOLVERS, "followers", followers_audience)
    monkeypatch.setitem(audiences._RESOLVERS, "service_subscribers", service_subscribers_audience)
    monkeypatch.setattr(audiences, "_delivery_loader", delivery_for)


class TestDeliveryFor:
    async def test_channels_and_timing_come_from_preferences(
        self, session: AsyncSession, receiver: tuple[HttpReceiver, str]
    ) -> None:
        from app.models import NotificationPreference

        plain, _ = await create_user(session)
        quiet, _ = await create_user(session)
        hooked, _ = await create_user(session)
        session.add(
            NotificationPreference(
                user_id=quiet.id, email_enabled=False, quiet_start="22:00", quiet_end="07:00",
                timezone="Europe/Paris", digest="daily",
            )
        )  # fmt: skip
        await add_destination(session, hooked.id, "webhook", receiver[1], secret=WEBHOOK_SECRET)
        found = await delivery_for(session, [plain.id, quiet.id, hooked.id])
        assert found[plain.id].channels == {"in_app", "email"}
        assert found[quiet.id].channels == {"in_app"}
        prefs = found[quiet.id].preferences
        assert prefs.quiet_hours == QuietHours(time(22), time(7))
        assert (prefs.timezone, prefs.digest) == ("Europe/Paris", "daily")
        assert found[hooked.id].channels == {"in_app", "email", "webhook"}


class TestNotifyThenEnqueue:
    async def test_followers_of_a_resolved_ticket_hear_about_it_on_their_channels(
        self,
        wired: None,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        server, url = receiver
        erin, _ = await create_user(session)
        agent, _ = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session, requester=erin)
        from app.models import TicketFollow

        session.add(TicketFollow(ticket_id=ticket.id, user_id=agent.id, source="manual"))
        await add_destination(session, agent.id, "webhook", url, secret=WEBHOOK_SECRET)
        event = ticket_event(ticket, type="ticket.resolved")
        scope = EventScope(ticket_id=ticket.id)

        active = await active_policy(session)
        # A policy of its own, so this test does not depend on the shipped one:
        policy = ActivePolicy(active.version_id, active.version, parse_policy(HEAR_RESOLUTION))
        decisions = await notify_event(session, event, scope, policy=policy)
        # notify_event enqueued them already (app.wiring); a second enqueue adds nothing.
        assert await enqueue_deliveries(session, event, decisions, ticket_id=scope.ticket_id) == 0
        await session.commit()
        await make_relay(db, allow_private_destinations=True).drain()

        assert len(await inbox_of(session, erin.id)) == 1  # requester (and implicit follower)
        assert len(await inbox_of(session, agent.id)) == 1  # explicit follower
        assert len(server.requests) == 1  # the follower's webhook
        assert "resolved" in server.requests[0].body.decode()
        assert (await statuses(session)).get("dead", 0) == 0

    async def test_service_subscribers_are_resolved_from_the_scope(
        self, wired: None, session: AsyncSession
    ) -> None:
        erin, _ = await create_user(session)
        session.add(Service(slug="mail", name="Mail", visibility="public"))
        await do_follow_service(session, user=erin, slug="mail")
        resolved = service_subscribers_audience(
            ticket_event(await create_ticket(session)), EventScope(service="mail")
        )
        assert resolved.users is not None
        assert isinstance(resolved.users, Select)
        assert list((await session.execute(resolved.users)).scalars()) == [erin.id]


class TestDefaultPolicyReachesChatAppsAndWebhooks:
    async def test_a_followers_webhook_hears_a_resolution_under_the_shipped_policy(
        self,
        wired: None,
        session: AsyncSession,
        db: async_sessionmaker[AsyncSession],
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        server, url = receiver
        erin, _ = await create_user(session)
        agent, _ = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session, requester=erin)
        from app.models import TicketFollow

        session.add(TicketFollow(ticket_id=ticket.id, user_id=agent.id, source="manual"))
        await add_destination(session, agent.id, "webhook", url, secret=WEBHOOK_SECRET)
        event = ticket_event(ticket, type="ticket.resolved")
        await notify_event(session, event, EventScope(ticket_id=ticket.id))  # active policy
        await session.commit()
        await make_relay(db, allow_private_destinations=True).drain()
        assert len(server.requests) == 1
        assert "resolved" in server.requests[0].body.decode()
