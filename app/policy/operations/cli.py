"""`socialdesk policy validate|apply|simulate FILE`: the policy from a YAML file; `prune`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.cli_support import CliError, check_database
from app.config import Settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.kit.clock import as_utc, utcnow
from app.policy.engine.document import PolicyDocument, parse_policy
from app.policy.engine.errors import PolicyError
from app.policy.operations.retention import prune_decisions
from app.policy.operations.simulate import simulate
from app.policy.service import do_apply_policy
from app.wiring import wire_domains

T = TypeVar("T")


def add_policy_parser(sub: Any) -> None:
    """Add `policy validate|apply|simulate|prune` to the `socialdesk` command."""
    policy = sub.add_parser("policy", help="the communications policy from a YAML file")
    commands = policy.add_subparsers(dest="policy_command", required=True)
    validate = commands.add_parser("validate", help="check a policy file; prints ok or issues")
    validate.add_argument("file")
    validate.set_defaults(func=cmd_validate)
    apply = commands.add_parser("apply", help="save a policy file as the new active version")
    apply.add_argument("file")
    apply.set_defaults(func=cmd_apply)
    simulate = commands.add_parser("simulate", help="diff a candidate against the active policy")
    simulate.add_argument("file")
    simulate.add_argument("--since", help="ISO 8601 (default: 7 days before --until)")
    simulate.add_argument("--until", help="ISO 8601 (default: now)")
    simulate.add_argument("--limit", type=int, default=500, help="entries per list (500)")
    simulate.set_defaults(func=cmd_simulate)
    prune = commands.add_parser(
        "prune", help="delete stored decisions past the retention period now; prints counts"
    )
    prune.add_argument(
        "--older-than-days",
        type=int,
        metavar="N",
        help="default: SOCIALDESK_DECISION_RETENTION_DAYS (180)",
    )
    prune.set_defaults(func=cmd_prune)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from exc


def _parse_or_exit(path: str) -> tuple[str, PolicyDocument]:
    text = _read(path)
    try:
        return text, parse_policy(text)
    except PolicyError as exc:
        # One issue per line, compiler style, and the exit status of a refused input.
        for issue in exc.errors:
            sys.stderr.write(f"{path}: {issue}\n")
        sys.exit(2)


async def _in_transaction(settings: Settings, job: Callable[[AsyncSession], Awaitable[T]]) -> T:
    await check_database(settings)
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            return await job(session)
    finally:
        await engine.dispose()


def cmd_validate(args: argparse.Namespace, _settings: Settings) -> None:
    """Print `ok`, or every issue on its own line (exit status 2)."""
    _parse_or_exit(args.file)
    sys.stdout.write("ok\n")


def cmd_apply(args: argparse.Namespace, settings: Settings) -> None:
    """Save the file as the new active version; prints {"version": n}."""
    text, _document = _parse_or_exit(args.file)

    async def job(session: AsyncSession) -> int:
        version = await do_apply_policy(session, yaml_text=text, created_by_user_id=None)
        return version.version

    number = asyncio.run(_in_transaction(settings, job))
    sys.stdout.write(json.dumps({"version": number}) + "\n")


def _moment(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError as exc:
        raise CliError(f"{flag} expects an ISO 8601 time such as 2026-11-01T00:00Z") from exc


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> None:
    """Print the JSON diff of who would receive what under the candidate."""
    _text, candidate = _parse_or_exit(args.file)
    until = _moment(args.until, "--until") or utcnow()
    since = _moment(args.since, "--since") or until - timedelta(days=7)
    if since >= until:
        raise CliError("--since must be before --until")

    async def job(session: AsyncSession) -> dict[str, Any]:
        diff = await simulate(session, candidate, since=since, until=until)
        return diff.as_dict(max_entries=args.limit)

    sys.stdout.write(json.dumps(asyncio.run(_in_transaction(settings, job)), indent=2) + "\n")


def cmd_prune(args: argparse.Namespace, settings: Settings) -> None:
    """One retention pass now, as the workers run it hourly; prints what it deleted and kept."""
    days = args.older_than_days
    if days is None:
        days = settings.decision_retention_days
    if days < 1:
        raise CliError("--older-than-days must be at least 1")
    wire_domains()  # what other domains keep (undelivered outbox rows) is registered there

    async def run() -> dict[str, Any]:
        await check_database(settings)
        engine = create_engine(settings)
        try:
            report = await prune_decisions(create_sessionmaker(engine), older_than_days=days)
        finally:
            await engine.dispose()
        return report.as_dict()

    sys.stdout.write(json.dumps(asyncio.run(run())) + "\n")
