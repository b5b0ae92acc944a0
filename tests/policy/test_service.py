"""The active policy: applied on first use, parsed once per version, failing closed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import InvalidInput
from app.models import PolicyVersion
from app.policy import service
from app.policy.engine.document import default_policy_text
from tests.factories import create_user
from tests.policy.support import notify, outcomes, policy_yaml, store_event, ticket_for


async def test_first_use_applies_the_default_once(session: AsyncSession) -> None:
    first = await service.active_policy(session)
    second = await service.active_policy(session)
    assert (first.version, second.version) == (1, 1)
    assert await session.scalar(select(func.count()).select_from(PolicyVersion)) == 1
    assert first.two_person_rule is True


async def test_a_version_is_parsed_once(session: AsyncSession) -> None:
    first = await service.active_policy(session)
    again = await service.active_policy(session)
    assert first.document is again.document


async def test_apply_validates_and_switches_the_active_version(session: AsyncSession) -> None:
    admin, _ = await create_user(session)
    text = policy_yaml("""
        - id: only-p1
          on: [ticket.created]
          to: [agents]
          via: [in_app]
    """)
    with pytest.raises(InvalidInput) as refused:
        await service.do_apply_policy(
            session, yaml_text="rules: []\nextra: 1", created_by_user_id=None
        )
    assert refused.value.details[0]["message"].startswith("unknown key 'extra'")
    saved = await service.do_apply_policy(session, yaml_text=text, created_by_user_id=admin.id)
    assert (saved.version, saved.created_by_user_id, saved.is_active) == (2, admin.id, True)
    actives = await session.execute(select(PolicyVersion.version).where(PolicyVersion.is_active))
    assert actives.scalars().all() == [2]
    assert (await service.active_policy(session)).document.rules[0].id == "only-p1"


async def test_a_stored_version_that_no_longer_validates_sends_nothing(
    session: AsyncSession,
) -> None:
    rita, _ = await create_user(session)
    version = await service.get_active_version(session)
    # What a later, stricter release would find: a stored text it refuses.
    corrupt = default_policy_text() + "\nsurprise: true\n"
    await session.execute(
        update(PolicyVersion).where(PolicyVersion.id == version.id).values(yaml_text=corrupt)
    )
    session.expire(version)
    ticket = await ticket_for(session, requester=rita)
    event = await store_event(session, ticket, kind="ticket.resolved", new="resolved")
    decisions = await notify(session, event)
    assert [d for d in decisions if d.outcome != "suppress"] == []
    assert outcomes(decisions, rita) in ({}, {"in_app": "suppress", "email": "suppress"})
