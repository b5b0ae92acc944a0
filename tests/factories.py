"""Plain async factories: `await create_user(session, role=Role.AGENT)`."""

from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import do_create_user
from app.kit.clock import utcnow
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance, Role, Ticket, TicketEvent, User
from tests.conftest import TEST_SECRET_KEY

_seq = itertools.count(1)


async def create_user(
    session: AsyncSession,
    *,
    role: Role = Role.END_USER,
    email: str | None = None,
    name: str | None = None,
    password: str | None = None,
) -> tuple[User, str]:
    n = next(_seq)
    user, token = await do_create_user(
        session,
        email=email or f"user{n}@example.net",
        name=name or f"User {n}",
        role=role,
        password=password,
    )
    return user, token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_connector(
    session: AsyncSession,
    *,
    kind: str = "demo",
    settings: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    url: str | None = None,
) -> ConnectorInstance:
    n = next(_seq)
    if settings is None and kind == "demo":
        settings = {"epoch": utcnow().isoformat(), "seed": str(n), "rate": "6"}
    instance = ConnectorInstance(
        kind=kind,
        name=f"{kind} {n}",
        base_url=url,
        secrets_sealed=SecretBox(TEST_SECRET_KEY).seal(secrets or {}),
        settings=settings or {},
        remote_identity=f"test:{kind}:{n}",
    )
    session.add(instance)
    await session.flush()
    return instance


async def create_ticket(
    session: AsyncSession,
    *,
    connector: ConnectorInstance | None = None,
    requester: User | None = None,
    status: str = "open",
    priority: str = "P3",
    title: str = "VPN does not connect",
) -> Ticket:
    connector = connector or await create_connector(session)
    n = next(_seq)
    now = utcnow()
    ticket = Ticket(
        connector_id=connector.id,
        external_id=f"T-{n}",
        title=title,
        status=status,
        raw_status=status,
        priority=priority,
        raw_priority=priority,
        requester_user_id=requester.id if requester else None,
        requester_email=requester.email if requester else None,
        opened_at=now - timedelta(hours=1),
        external_updated_at=now,
    )
    session.add(ticket)
    await session.flush()
    return ticket


async def create_event(
    session: AsyncSession,
    ticket: Ticket,
    *,
    kind: str = "ticket.commented",
    visibility: str = "public",
    body: str | None = "hello",
) -> TicketEvent:
    event = TicketEvent(
        connector_id=ticket.connector_id,
        ticket_id=ticket.id,
        source_id=f"test:{next(_seq)}",
        kind=kind,
        visibility=visibility,
        body=body,
        occurred_at=utcnow(),
    )
    session.add(event)
    await session.flush()
    return event
