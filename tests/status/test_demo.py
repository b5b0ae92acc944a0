"""The demo's status content: seeded once, visible on the public page as intended."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role, Service
from app.status.demo import DEMO_SERVICES, seed_status
from tests.factories import create_user


async def test_seed_is_idempotent_and_public_page_shows_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await create_user(session, role=Role.AGENT, email="alex@example.com")
    await create_user(session, role=Role.ADMIN, email="admin@example.com")
    for _ in range(2):
        await seed_status(
            session, author_email="alex@example.com", approver_email="admin@example.com"
        )
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(Service)) == len(DEMO_SERVICES)
    page = (await client.get("/status")).text
    assert "E-mail delivery delayed" in page  # resolved 12 days ago: in the history row
    assert "mx2" not in page  # the staff title and body stay internal
    assert "VPN gateway firmware upgrade" in page
    assert "Backups" not in page
    assert page.count("day--partial_outage") == 1
    summary = (await client.get("/status.json")).json()
    assert summary["status"]["indicator"] == "none"
    assert {c["id"] for c in summary["components"]} == {"email", "accounts", "vpn"}
