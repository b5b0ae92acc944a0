"""The desk the fan-out benchmark talks to: per room one ticket, its requester and agents."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.service import do_create_user
from app.config import Settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.kit.clock import utcnow
from app.kit.secrets import SecretBox
from app.migrate import upgrade_async
from app.models import ConnectorInstance, Role, Ticket


@dataclass
class Desk:
    tickets: list[int]
    tokens: list[list[str]]  # per room: the publishing agent first, the requester last


async def seed(database_url: str, secret_key: str, rooms: int, per_room: int) -> Desk:
    settings = Settings(database_url=database_url, secret_key=secret_key)
    await upgrade_async(settings.database_url)
    engine = create_engine(settings)
    desk = Desk([], [])
    now = utcnow()
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            instance = ConnectorInstance(
                kind="demo",
                name="bench",
                secrets_sealed=SecretBox(secret_key).seal({}),
                settings={},
                remote_identity="bench:1",
            )
            session.add(instance)
            await session.flush()
            for room in range(rooms):
                tokens = []
                for member in range(per_room - 1):
                    _, token = await do_create_user(
                        session,
                        email=f"a{room}-{member}@bench.example",
                        name="Agent",
                        role=Role.AGENT,
                    )
                    tokens.append(token)
                requester, token = await do_create_user(
                    session, email=f"r{room}@bench.example", name="Requester", role=Role.END_USER
                )
                tokens.append(token)
                ticket = Ticket(
                    connector_id=instance.id,
                    external_id=f"B-{room}",
                    title="VPN drops",
                    status="open",
                    raw_status="open",
                    priority="P3",
                    raw_priority="P3",
                    requester_user_id=requester.id,
                    opened_at=now,
                    external_updated_at=now,
                )
                session.add(ticket)
                await session.flush()
                desk.tickets.append(ticket.id)
                desk.tokens.append(tokens)
    finally:
        await engine.dispose()
    return desk
