"""CSAT: a resolution asks the requester once; the signed link is answered once."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.clock import utcnow
from app.kit.signing import Signer
from app.metrics.surveys import PURPOSE, survey_link
from app.models import InboxItem, PolicyDecision, Role, Survey, TicketEvent
from app.policy.decisions.ticket_events import notify_ticket_events
from tests.conftest import TEST_SECRET_KEY
from tests.factories import auth, create_ticket, create_user
from tests.notifications.support import make_relay

SIGNER = Signer(TEST_SECRET_KEY, PURPOSE)


async def _resolve(session: AsyncSession, ticket_id: int, connector_id: int, n: int) -> None:
    event = TicketEvent(
        connector_id=connector_id,
        ticket_id=ticket_id,
        source_id=f"csat:{ticket_id}:{n}",
        kind="ticket.resolved",
        visibility="public",
        old_value="in_progress",
        new_value="resolved",
        occurred_at=utcnow(),
    )
    session.add(event)
    await session.flush()
    await notify_ticket_events(session, [event])
    await notify_ticket_events(session, [event])  # a replay asks nothing more


async def test_a_resolution_sends_one_survey_whose_link_is_answered_once(
    client: httpx.AsyncClient, session: AsyncSession, db: async_sessionmaker[AsyncSession]
) -> None:
    erin, _ = await create_user(session)
    _, agent_token = await create_user(session, role=Role.AGENT)
    ticket = await create_ticket(session, requester=erin, status="resolved")
    await _resolve(session, ticket.id, ticket.connector_id, 1)
    await session.commit()

    surveys = (
        (await session.execute(select(Survey).where(Survey.ticket_id == ticket.id))).scalars().all()
    )
    assert len(surveys) == 1
    survey = surveys[0]
    sent = await session.scalar(
        select(func.count())
        .select_from(PolicyDecision)
        .where(
            PolicyDecision.event_key == f"survey:{survey.id}",
            PolicyDecision.recipient_user_id == erin.id,
            PolicyDecision.outcome == "send",
        )
    )
    assert sent == 2  # e-mail and in-app
    await make_relay(db).drain()
    async with db() as check:
        urls = (
            (await check.execute(select(InboxItem.url).where(InboxItem.user_id == erin.id)))
            .scalars()
            .all()
        )
    assert any(url and "/survey/" in url for url in urls)

    link = survey_link(
        SIGNER, "http://testserver", survey_id=survey.id, user_id=erin.id, now=utcnow()
    )
    path = link.removeprefix("http://testserver")
    form = await client.get(path + "?rating=4")
    assert form.status_code == 200
    assert 'value="4" checked' in form.text
    answered = await client.post(path, data={"rating": "5", "comment": "Fast and kind"})
    assert answered.status_code == 200
    assert "you rated us 5 out of 5" in answered.text
    again = await client.post(path, data={"rating": "1"})
    assert again.status_code == 409

    report = await client.get("/api/v1/metrics/csat", headers=auth(agent_token))
    assert report.status_code == 200
    body = report.json()
    assert body["answered"] >= 1
    assert any(c["comment"] == "Fast and kind" and c["rating"] == 5 for c in body["comments"])


async def test_forged_foreign_and_expired_links_are_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    erin, _ = await create_user(session)
    sam, _ = await create_user(session)
    ticket = await create_ticket(session, requester=erin, status="resolved")
    survey = Survey(
        ticket_id=ticket.id,
        user_id=erin.id,
        resolution_key="csat:forged",
        expires_at=utcnow() + timedelta(days=14),
    )
    session.add(survey)
    await session.commit()

    base = "http://testserver"
    forged = survey_link(
        Signer("another-key" * 4, PURPOSE), base, survey_id=survey.id, user_id=erin.id, now=utcnow()
    )
    foreign = survey_link(SIGNER, base, survey_id=survey.id, user_id=sam.id, now=utcnow())
    expired = survey_link(
        SIGNER, base, survey_id=survey.id, user_id=erin.id, now=utcnow() - timedelta(days=15)
    )
    unsubscribe_signer = Signer(TEST_SECRET_KEY, "unsubscribe")  # another purpose
    other_purpose = survey_link(
        unsubscribe_signer, base, survey_id=survey.id, user_id=erin.id, now=utcnow()
    )
    for link, status in ((forged, 404), (foreign, 404), (expired, 410), (other_purpose, 404)):
        response = await client.post(link.removeprefix(base), data={"rating": "1"})
        assert response.status_code == status, link
    await session.refresh(survey)
    assert survey.answered_at is None


async def test_csat_needs_staff(client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, token = await create_user(session)
    await session.commit()
    assert (await client.get("/api/v1/metrics/csat", headers=auth(token))).status_code == 403
