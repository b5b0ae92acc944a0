"""Leases for jobs that must run once in the whole deployment, however many workers run.

A job (the decision retention pass, say) is named; whichever worker holds the name's lease
runs it, and the lease lasts `ttl`, so the job runs at most once per `ttl` across the
cluster and a holder that died is replaced once its lease ran out. Taking the lease is one
idempotent INSERT and one conditional UPDATE, the same on PostgreSQL and SQLite.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.clock import utcnow
from app.models import WorkerLease


def worker_identity() -> str:
    """Host, process and a random part: two workers in one process are two owners."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def take_lease(
    sessionmaker: async_sessionmaker[AsyncSession], name: str, owner: str, ttl: timedelta
) -> bool:
    """Take or renew `name` for `ttl`; False while another owner's lease is still running."""
    now = utcnow()
    async with unit_of_work(sessionmaker) as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # The row exists once; racing first inserts leave one standing.
        await session.execute(
            insert(WorkerLease)
            .values(name=name, owner="", expires_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        result = await session.execute(
            update(WorkerLease)
            .where(
                WorkerLease.name == name,
                or_(WorkerLease.owner == owner, WorkerLease.expires_at <= now),
            )
            .values(owner=owner, expires_at=now + ttl)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)
