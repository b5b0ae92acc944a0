"""The async engine and sessions: one transaction per request or job, publish after commit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only

from app.config import Settings

log = logging.getLogger(__name__)

AFTER_COMMIT = "after_commit_callbacks"


def create_engine(settings: Settings) -> AsyncEngine:
    """PostgreSQL as is; SQLite in WAL mode with one connection at a time."""
    # Every transaction here ends in an explicit COMMIT or ROLLBACK (unit_of_work, the
    # session's close), so the pool's own ROLLBACK on check-in would be one more round
    # trip per transaction for nothing (the chat writer commits hundreds a second).
    if not settings.is_sqlite:
        return create_async_engine(
            settings.database_url, pool_pre_ping=True, pool_reset_on_return=None
        )
    # SQLite allows one writer. A single pooled connection serializes this process's
    # transactions in asyncio (no 'database is locked' from a read that turns into a
    # write); busy_timeout covers a second process such as `socialdesk worker`.
    engine = create_async_engine(
        settings.database_url,
        pool_size=1,
        max_overflow=0,
        pool_timeout=60,
        pool_reset_on_return=None,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself so SAVEPOINTs and transactional DDL work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front (waiting up to busy_timeout). A deferred
        # BEGIN that reads first and then writes fails at once with "database is locked"
        # when another process (a worker, a second server) committed in between.
        # Said to the driver directly: one hop to aiosqlite's thread instead of a whole
        # statement through the async adaptation (~10x the CPU, once per transaction).
        await_only(conn.connection.driver_connection.execute_fetchall("BEGIN IMMEDIATE"))

    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def dedicated_writer(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> tuple[async_sessionmaker[AsyncSession], AsyncEngine | None]:
    """Sessions for a hot writer loop (live chat), and the engine to dispose if it is new.

    On PostgreSQL the writer gets one connection of its own without the pre-ping, which
    costs three round trips (BEGIN, ping, ROLLBACK) per transaction; a connection that
    died fails one attempt, is invalidated by the pool, and the writer's retry gets a new
    one. SQLite keeps the process's single connection (one writer at a time anyway).
    """
    engine = sessionmaker.kw.get("bind")
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "postgresql":
        return sessionmaker, None
    own = create_async_engine(engine.url, pool_size=1, max_overflow=0, pool_reset_on_return=None)
    return create_sessionmaker(own), own


def redacted_url(url: str) -> str:
    """The database URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def after_commit(session: AsyncSession, callback: Callable[[], Any]) -> None:
    """Run `callback` (sync or returning an awaitable) once the transaction has committed.

    Used for bus publications: the data exists before anyone is told about it.
    """
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


async def run_after_commit(session: AsyncSession) -> None:
    """Run the callbacks; one that fails is logged and the rest still run.

    The transaction has committed, so the request succeeded whatever a callback does: a bus
    that is down (Redis restarting) must not turn a stored chat message into a 500 that
    invites a duplicate retry. Live frames lost that way are not lost data: the replicas
    close their sockets with 1011 when the feed drops, and clients resume from the database.
    """
    callbacks: list[Callable[[], Any]] = session.info.pop(AFTER_COMMIT, [])
    for callback in callbacks:
        try:
            result = callback()
            if hasattr(result, "__await__"):
                await result
        except Exception as exc:
            # A warning, not a traceback: a bus that is down is an operational event, and
            # the bus logs its own outage (the traceback is there at debug level).
            log.warning(
                "a notification after commit failed (the data is committed): %s",
                exc,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )


def discard_after_commit(session: AsyncSession) -> None:
    session.info.pop(AFTER_COMMIT, None)


async def end_transaction(session: AsyncSession) -> None:
    """Commit what the request did so far, giving its connection back to the pool.

    For a request about to wait on something outside the database (a remote system's
    answer, a sync that opens its own sessions): on SQLite the pool has one connection, and
    holding it meanwhile would stall every other request and the live-chat writer for as
    long as the remote system takes (up to the HTTP timeout). The session stays usable; its
    next statement begins a new transaction.
    """
    await session.commit()
    await run_after_commit(session)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A job's transaction: commit on success, roll back on error, then publish."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            discard_after_commit(session)
            raise
        await run_after_commit(session)
