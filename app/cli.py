"""The `socialdesk` command: serve, demo, migrate, worker, mail-in, users, connectors, policy."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from app.cli_support import CliError, check_database, key_values, require_shared_bus
from app.config import Settings, get_settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.policy.operations.cli import add_policy_parser  # the policy domain owns its commands

if TYPE_CHECKING:
    from app.runtime import Runtime


async def _migrate(settings: Settings) -> None:
    from app.migrate import upgrade_async

    await check_database(settings)
    await upgrade_async(settings.database_url)


def _serve(settings: Settings, host: str, port: int, workers: bool) -> None:
    import uvicorn

    from app.kit.gc_tuning import tune_for_server
    from app.main import create_app

    if not workers:
        require_shared_bus(settings, "serve --no-workers")
    asyncio.run(check_database(settings))
    try:
        settings.require_secret_key()
    except RuntimeError as exc:
        raise CliError(str(exc)) from exc
    app = create_app(settings, run_workers=workers)
    tune_for_server()
    uvicorn.run(
        app,
        host=host,
        port=port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,  # one compression pass per recipient is not worth it
        log_level=settings.log_level,
        proxy_headers=True,
    )


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    _serve(settings, args.host, args.port, not args.no_workers)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> None:
    from app.demo import ensure_secret_key, seed

    if "base_url" not in settings.model_fields_set:
        # Links in the demo's notifications point at the port it actually serves on.
        settings = settings.model_copy(update={"base_url": f"http://{args.host}:{args.port}"})
    ensure_secret_key(settings)
    asyncio.run(_migrate(settings))

    async def _seed() -> list[Any]:
        engine = create_engine(settings)
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                return await seed(session, settings)
        finally:
            await engine.dispose()

    logins = asyncio.run(_seed())
    url = f"http://{args.host}:{args.port}"
    print(f"\nSocialdesk demo on {url}  (status page {url}/status, API docs {url}/api/docs)")
    print("Demo logins (password / API token):")
    for login in logins:
        print(f"  {login.role.value:9} {login.email:22} {login.password}  {login.token}")
    print(flush=True)
    _serve(settings, args.host, args.port, True)


def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> None:
    asyncio.run(_migrate(settings))
    print("database is at the latest schema")


async def _run_until_stopped(
    settings: Settings, start: Callable[[Runtime], Awaitable[None]]
) -> None:
    """Open the runtime, start what `start` starts, and run until SIGINT or SIGTERM.

    The handlers go in before anything slow: a supervisor may stop a process that is still
    connecting, and that must end as cleanly (exit 0, runtime closed) as a stop later on.
    """
    from app.runtime import Runtime

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    logging.getLogger("socialdesk").info("starting: checking the database")
    await check_database(settings)
    try:
        runtime = await Runtime.open(settings)
    except RuntimeError as exc:
        raise CliError(str(exc)) from exc
    try:
        if not stopping.is_set():
            await start(runtime)
            stop_requested = asyncio.create_task(stopping.wait())
            until_stopped = asyncio.create_task(runtime.wait())
            await asyncio.wait({stop_requested, until_stopped}, return_when=asyncio.FIRST_COMPLETED)
            stop_requested.cancel()
            until_stopped.cancel()
    finally:
        await runtime.close()


def cmd_worker(_args: argparse.Namespace, settings: Settings) -> None:
    require_shared_bus(settings, "worker")

    async def _start(runtime: Runtime) -> None:
        runtime.start_workers()
        logging.getLogger("socialdesk").info("worker started; Ctrl-C or SIGTERM stops it")

    asyncio.run(_run_until_stopped(settings, _start))


def cmd_mail_in(args: argparse.Namespace, settings: Settings) -> None:
    if not settings.reply_domain:
        raise CliError("set SOCIALDESK_REPLY_DOMAIN to the domain replies are sent to")
    if not settings.redis_url:
        # A chat message stored here would reach nobody's open chat page: the API process
        # hears of it only through the shared bus.
        raise CliError(
            "`mail-in` runs apart from the API, so live chat needs SOCIALDESK_REDIS_URL; "
            "on one machine without Redis set SOCIALDESK_MAIL_IN_LISTEN=host:port for `serve`"
        )

    async def _start(runtime: Runtime) -> None:
        try:
            await runtime.start_mail_listener(args.host, args.port)
        except OSError as exc:
            raise CliError(f"cannot listen on {args.host}:{args.port}: {exc}") from exc

    asyncio.run(_run_until_stopped(settings, _start))


async def _with_session(settings: Settings, job: Callable[[Any], Awaitable[Any]]) -> Any:
    await check_database(settings)
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            return await job(session)
    finally:
        await engine.dispose()


def cmd_users_create(args: argparse.Namespace, settings: Settings) -> None:
    from app.auth.service import do_create_user
    from app.kit.errors import AppError
    from app.models import Role

    async def job(session: Any) -> dict[str, Any]:
        user, token = await do_create_user(
            session,
            email=args.email,
            name=args.name,
            role=Role(args.role),
            password=args.password,
        )
        return {"id": user.id, "email": user.email, "role": user.role.value, "token": token}

    try:
        print(json.dumps(asyncio.run(_with_session(settings, job))))
    except AppError as exc:
        raise CliError(exc.message) from exc


def cmd_keys_reseal(_args: argparse.Namespace, settings: Settings) -> None:
    """Seal every stored secret with the newest key of SOCIALDESK_SECRET_KEY's ring."""
    from cryptography.fernet import InvalidToken
    from sqlalchemy import select

    from app.kit.secrets import SecretBox
    from app.models import ConnectorInstance, NotificationDestination

    try:
        box = SecretBox(settings.require_secret_key())
    except (RuntimeError, ValueError) as exc:
        raise CliError(str(exc)) from exc

    async def job(session: Any) -> dict[str, Any]:
        counts = {"connectors": 0, "destinations": 0, "unreadable": 0}
        for model, name in (
            (ConnectorInstance, "connectors"),
            (NotificationDestination, "destinations"),
        ):
            for row in (await session.execute(select(model))).scalars():
                try:
                    row.secrets_sealed = box.reseal(row.secrets_sealed)
                except InvalidToken:
                    counts["unreadable"] += 1  # sealed with a key no longer in the ring
                    continue
                counts[name] += 1
        return counts

    report = asyncio.run(_with_session(settings, job))
    print(json.dumps(report))
    if report["unreadable"]:
        raise CliError(
            f"{report['unreadable']} secrets open with no key in SOCIALDESK_SECRET_KEY; "
            "put the key they were sealed with back in the ring"
        )


def cmd_connectors_add(args: argparse.Namespace, settings: Settings) -> None:
    from app.kit.errors import AppError
    from app.kit.secrets import SecretBox
    from app.sync.instances import do_add_instance, new_http_client

    async def job(session: Any) -> dict[str, Any]:
        async with new_http_client() as http:
            instance, health = await do_add_instance(
                session,
                box=SecretBox(settings.require_secret_key()),
                http=http,
                kind=args.kind,
                name=args.name,
                url=args.url,
                secrets=key_values(args.secret, "--secret"),
                settings=key_values(args.setting, "--setting"),
                poll_interval=int(key_values(args.setting, "--setting").get("poll_interval", 10)),
            )
        return {"id": instance.id, "kind": instance.kind, "remote": health.remote_identity}

    try:
        print(json.dumps(asyncio.run(_with_session(settings, job))))
    except AppError as exc:
        raise CliError(exc.message) from exc
    except RuntimeError as exc:
        raise CliError(str(exc)) from exc


def cmd_connectors_sync(args: argparse.Namespace, settings: Settings) -> None:
    from dataclasses import asdict

    from app.kit.secrets import SecretBox
    from app.realtime.bus import MemoryBus
    from app.sync.engine import sync_instance
    from app.sync.instances import new_http_client

    async def run() -> dict[str, Any]:
        await check_database(settings)
        engine = create_engine(settings)
        try:
            async with new_http_client() as http:
                report = await sync_instance(
                    create_sessionmaker(engine),
                    MemoryBus(),
                    SecretBox(settings.require_secret_key()),
                    http,
                    args.id,
                )
        except LookupError as exc:
            raise CliError(str(exc)) from exc
        finally:
            await engine.dispose()
        data = asdict(report)
        data.pop("event_ids")
        return data

    report = asyncio.run(run())
    print(json.dumps(report))
    if report["error"]:
        raise CliError(f"sync failed: {report['error']}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socialdesk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="API, WebSocket, web UI and workers")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-workers", action="store_true", help="API only")
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="migrate, seed the demo and serve")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=cmd_demo)

    sub.add_parser("migrate", help="alembic upgrade head").set_defaults(func=cmd_migrate)
    sub.add_parser("worker", help="sync and delivery workers only").set_defaults(func=cmd_worker)

    mail_in = sub.add_parser("mail-in", help="SMTP listener for replies by e-mail")
    mail_in.add_argument("--host", default="127.0.0.1")
    mail_in.add_argument("--port", type=int, default=2525)
    mail_in.set_defaults(func=cmd_mail_in)

    users = sub.add_parser("users").add_subparsers(dest="users_command", required=True)
    create = users.add_parser("create", help="create a user and print its API token")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["admin", "agent", "end_user"])
    create.add_argument("--password")
    create.set_defaults(func=cmd_users_create)

    keys = sub.add_parser("keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser(
        "reseal", help="seal stored secrets with the newest key of SOCIALDESK_SECRET_KEY"
    ).set_defaults(func=cmd_keys_reseal)

    conns = sub.add_parser("connectors").add_subparsers(dest="connectors_command", required=True)
    add = conns.add_parser("add", help="check credentials and save a connector instance")
    add.add_argument("--kind", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--url")
    add.add_argument("--secret", action="append", metavar="KEY=VALUE")
    add.add_argument("--setting", action="append", metavar="KEY=VALUE")
    add.set_defaults(func=cmd_connectors_add)
    sync = conns.add_parser("sync", help="one sync pass now")
    sync.add_argument("id", type=int)
    sync.set_defaults(func=cmd_connectors_sync)

    add_policy_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        args.func(args, settings)
    except CliError as exc:
        print(f"socialdesk: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
