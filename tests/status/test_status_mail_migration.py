"""Migration 0029: unsent status_outbound rows become status_email outbox rows the relay
sends; the table goes; a downgrade brings it back with the rows still pending."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.config import Settings
from app.db import create_sessionmaker
from app.kit.clock import utcnow
from app.migrate import alembic_config, upgrade_async
from app.models import Delivery, Incident, IncidentService, Service, StatusUpdate, Subscriber
from tests.notifications.receivers import SmtpSink
from tests.status.test_status_mail import drain, mails_to, relay_for, text_of

pytest_plugins = ["tests.notifications.support"]

OUTBOUND = sa.table(
    "status_outbound",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("subscriber_id", sa.Integer),
    sa.column("update_id", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("sent_at", sa.DateTime(timezone=True)),
)


@pytest.fixture
async def fresh_url(settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the suite's kind (SQLite file or a new PostgreSQL database)."""
    if settings.is_sqlite:
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
        return
    url = make_url(settings.database_url)
    name = f"socialdesk_migrate_{secrets.token_hex(4)}"
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def _downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)


async def _seed(session: AsyncSession) -> tuple[int, int, int]:
    """At 0028: a pending and a confirmed subscriber, a published public update, and
    status_outbound rows, sent and unsent, one of them twice."""
    now = utcnow()
    pending = Subscriber(kind="email", email="new@example.org", token_nonce="n1")
    reader = Subscriber(kind="email", email="reader@example.org", token_nonce="n2")
    reader.confirmed_at = now
    service = Service(slug="vpn", name="VPN", visibility="public")
    incident = Incident(kind="incident", title="VPN down", status="investigating")
    session.add_all([pending, reader, service, incident])
    await session.flush()
    session.add(IncidentService(incident_id=incident.id, service_id=service.id, impact="outage"))
    update = StatusUpdate(
        incident_id=incident.id, audience="public", body="staff only", public_body="VPN down.",
        published_body="VPN down.", from_status="investigating", to_status="investigating",
        state="published", published_at=now,
    )  # fmt: skip
    session.add(update)
    await session.flush()
    rows = [
        ("subscription_confirmation", pending.id, None, None),
        ("subscription_confirmation", reader.id, None, now),  # sent: history only
        ("status_update", reader.id, update.id, None),
        ("status_update", reader.id, update.id, None),  # the old double write
    ]
    await session.execute(
        OUTBOUND.insert(),
        [
            {"kind": k, "subscriber_id": s, "update_id": u, "created_at": now, "sent_at": sent}
            for k, s, u, sent in rows
        ],
    )
    return pending.id, reader.id, update.id


async def test_unsent_status_mails_move_into_the_outbox_and_back(
    fresh_url: str, settings: Settings, smtp_sink: tuple[SmtpSink, str]
) -> None:
    sink, smtp_url = smtp_sink
    await upgrade_async(fresh_url, "0028")
    engine = create_async_engine(fresh_url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            pending_id, reader_id, update_id = await _seed(session)
            await session.commit()

        await upgrade_async(fresh_url)
        async with sessions() as session:
            tables = await (await session.connection()).run_sync(
                lambda conn: sa.inspect(conn).get_table_names()
            )
            assert "status_outbound" not in tables
            rows = (await session.scalars(sa.select(Delivery).order_by(Delivery.id))).all()
        by_kind = {r.payload["kind"]: r for r in rows}
        assert len(rows) == 2
        assert {(r.channel, r.status, r.attempts) for r in rows} == {("status_email", "pending", 0)}
        assert by_kind["update"].idempotency_key == (
            f"status.update:{update_id}:status-subscriber:{reader_id}:status_email"
        )
        assert by_kind["update"].payload == {
            "kind": "update", "subscriber_id": reader_id, "update_id": update_id,
        }  # fmt: skip
        assert by_kind["confirm"].recipient_key == f"status-subscriber:{pending_id}"
        assert by_kind["confirm"].payload == {"kind": "confirm", "subscriber_id": pending_id}

        await _downgrade(fresh_url, "0028")
        async with sessions() as session:
            stmt = sa.select(OUTBOUND.c.kind, OUTBOUND.c.subscriber_id)
            back = (await session.execute(stmt)).all()
            assert sorted(back) == sorted(
                [("subscription_confirmation", pending_id), ("status_update", reader_id)]
            )
            left = await session.scalar(sa.select(sa.func.count()).select_from(Delivery))
            assert left == 0

        await upgrade_async(fresh_url)
        migrated = settings.model_copy(update={"database_url": fresh_url})
        await drain(relay_for(migrated, sessions, smtp_url))
        [confirmation] = mails_to(sink, "new@example.org")
        assert "/status/subscribe/confirm/" in text_of(confirmation)
        [update_mail] = mails_to(sink, "reader@example.org")
        assert "VPN down." in text_of(update_mail)
        assert "staff only" not in update_mail.as_string()
        assert update_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    finally:
        await engine.dispose()
