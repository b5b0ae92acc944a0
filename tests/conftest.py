"""Test fixtures: a real database (SQLite or PostgreSQL) made by `alembic upgrade head`.

Each test runs inside a transaction that is rolled back at the end; services and
endpoints "commit" savepoints inside it. Tests that need real commits across sessions
(workers, other processes) use `committed_db`, which empties the tables afterwards.
Set SOCIALDESK_DATABASE_URL to a PostgreSQL URL to run the suite there: a fresh
database is created next to the one named, and dropped at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.kit.secrets import SecretBox
from app.main import create_app
from app.migrate import upgrade_async
from app.models import Base
from app.realtime.bus import MemoryBus
from app.runtime import Runtime
from app.wiring import wire_domains

TEST_SECRET_KEY = "test-secret-key-" + "x" * 32

# Helpers with fixtures that conftests import and test modules name in `pytest_plugins`:
# registered before either imports them, so their asserts are rewritten like a plugin's
# (otherwise pytest warns it cannot rewrite a module already imported).
pytest.register_assert_rewrite(
    "tests.notifications.support", "tests.auth.idp_support", "tests.connectors.api_support"
)

# The domains are connected once per process, as the app and the workers do at start, so
# every test sees the same wiring whatever order the tests run in.
wire_domains()


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings from the environment, with a test key and a temp state dir."""
    return Settings(
        secret_key=TEST_SECRET_KEY,
        state_dir=tmp_path_factory.mktemp("state"),
    )


@pytest.fixture(scope="session")
async def settings(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    if base_settings.is_sqlite:
        path: Path = tmp_path_factory.mktemp("db") / "test.db"
        test_settings = base_settings.model_copy(
            update={"database_url": f"sqlite+aiosqlite:///{path}"}
        )
        await upgrade_async(test_settings.database_url)
        yield test_settings
        return
    url = make_url(base_settings.database_url)
    name = f"socialdesk_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    test_settings = base_settings.model_copy(
        update={"database_url": url.set(database=name).render_as_string(hide_password=False)}
    )
    await upgrade_async(test_settings.database_url)
    yield test_settings
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions bound to one connection whose outer transaction is rolled back."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield async_sessionmaker(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        await outer.rollback()


@pytest.fixture
async def session(db: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with db() as session:
        yield session


@pytest.fixture
async def committed_db(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Real commits, for workers and other processes; every table is emptied after."""
    yield create_sessionmaker(engine)
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())


def make_runtime(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Runtime:
    return Runtime(
        settings=settings,
        engine=None,
        sessionmaker=sessionmaker,
        bus=MemoryBus(),
        box=SecretBox(TEST_SECRET_KEY),
        http=httpx.AsyncClient(timeout=10),
    )


@pytest.fixture
async def runtime(
    settings: Settings, db: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Runtime]:
    runtime = make_runtime(settings, db)
    yield runtime
    await runtime.http.aclose()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime.settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
