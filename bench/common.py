"""What every benchmark shares: timing, the JSON it prints, a scratch database."""

from __future__ import annotations

import json
import platform
import resource
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t: ...` then `t[0]` is the elapsed wall time in seconds."""
    elapsed: list[float] = []
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.append(time.perf_counter() - start)


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def emit(name: str, figure: dict[str, Any], reference: dict[str, Any], **extra: Any) -> None:
    """Print the result; `ratio` compares the figure's rate with the reference's."""
    rate, ref_rate = figure.get("per_second"), reference.get("per_second")
    result = {
        "benchmark": name,
        "figure": figure,
        "reference": reference,
        "ratio": round(rate / ref_rate, 4) if rate and ref_rate else None,
        "machine": {"python": sys.version.split()[0], "cpu": platform.machine()},
        **extra,
    }
    print(json.dumps(result, indent=2, default=str))


@asynccontextmanager
async def scratch_database(url: str | None) -> AsyncIterator[str]:
    """A fresh database at the latest schema, removed afterwards: a SQLite file in a temp
    directory (`url` None or SQLite), or a new database beside a PostgreSQL `url`."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.config import Settings
    from app.migrate import upgrade_async

    if url is None or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as directory:
            scratch = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
            await upgrade_async(scratch)
            yield scratch
        return
    base = make_url(Settings(database_url=url).database_url)
    name = f"socialdesk_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    scratch = base.set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade_async(scratch)
        yield scratch
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
