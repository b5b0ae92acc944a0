"""What every `socialdesk` subcommand shares: the one-line error, key=value flags, the DB check.

A leaf module, so domain packages that own commands (`app.policy.operations.cli`) import
it without importing `app.cli`, which imports them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text

from app.config import Settings
from app.db import create_engine, redacted_url


class CliError(Exception):
    """A failure to report as one line on stderr, exit status 2."""


def key_values(values: Sequence[str] | None, flag: str) -> dict[str, str]:
    """`--flag k=v` options as a dict; a malformed one is a CliError naming the flag."""
    out: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{flag} expects key=value, got {item!r}")
        out[key] = value
    return out


async def check_database(settings: Settings) -> None:
    """Fail fast, in one line, when the database cannot be reached."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(
            "cannot reach the database given by SOCIALDESK_DATABASE_URL "
            f"({redacted_url(settings.database_url)}): {cause}"
        ) from exc
    finally:
        await engine.dispose()


def require_shared_bus(settings: Settings, command: str) -> None:
    """Refuse a split process without Redis: its live events would reach no one.

    The in-process bus connects only what runs in one process; an API replica without
    workers would never hear of synced tickets or deliveries, and a worker's pushes would
    reach no socket. Silently losing them is worse than not starting.
    """
    if not settings.redis_url:
        raise CliError(
            f"`{command}` runs apart from the other processes, so live events need "
            "SOCIALDESK_REDIS_URL (or run `socialdesk serve` with its workers, one process)"
        )
