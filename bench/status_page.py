"""The status page under load: requests/s for /status and /status/feed.atom during an incident.

A real uvicorn process (the app as `socialdesk serve --no-workers` runs it) serves a desk in
the middle of an incident: the demo services, an open incident with 12 published updates.
Keep-alive HTTP/1.1 clients hammer one path at a time; the same server's static file
(`/static/app.css`, Starlette StaticFiles) measured in the same run is the reference.
Extra figures: revalidation (If-None-Match -> 304), and /status while an agent publishes
and a second one approves an update every second (each publish re-renders the page).
Server and clients get one core each.

    .venv/bin/python -m bench.status_page [--seconds 6] [--connections 64] [--rounds 3]
        [--database postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import sys
import time
from collections import Counter
from typing import Any

import httpx

from bench.common import emit, scratch_database

HOST = "127.0.0.1"


# --- the server process -------------------------------------------------------------------


def serve(port: int, database_url: str, secret_key: str) -> None:
    import uvicorn

    from app.config import Settings
    from app.main import create_app

    settings = Settings(database_url=database_url, secret_key=secret_key, log_level="warning")
    uvicorn.run(
        create_app(settings),
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        backlog=4096,
    )


# --- the desk -----------------------------------------------------------------------------


async def seed(database_url: str, secret_key: str) -> dict[str, str]:
    """Demo services, an open public incident with a dozen updates; returns agent tokens."""
    from app.auth.service import do_create_user
    from app.config import Settings
    from app.db import create_engine, create_sessionmaker, unit_of_work
    from app.migrate import upgrade_async
    from app.models import Role
    from app.status import repository
    from app.status.demo import seed_status
    from app.status.publishing import do_approve_update
    from app.status.schemas import AffectedService, IncidentCreate, UpdateCreate
    from app.status.service import do_add_update, do_create_incident

    settings = Settings(database_url=database_url, secret_key=secret_key)
    await upgrade_async(settings.database_url)
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            alex, alex_token = await do_create_user(
                session, email="alex@example.com", name="Alex", role=Role.AGENT
            )
            bo, bo_token = await do_create_user(
                session, email="bo@example.com", name="Bo", role=Role.ADMIN
            )
            await seed_status(session, author_email=alex.email, approver_email=bo.email)
            incident = await do_create_incident(
                session,
                data=IncidentCreate(
                    title="Sign-in failures",
                    services=[
                        AffectedService(service="accounts", impact="major_outage"),
                        AffectedService(service="email", impact="partial_outage"),
                    ],
                    update=UpdateCreate(body="Investigating sign-in errors.", audience="public"),
                ),
                author=alex,
            )
            for n in range(12):
                update = await do_add_update(
                    session,
                    incident_id=incident.id,
                    data=UpdateCreate(
                        body=f"Update {n}: **still** working on it with the identity provider.",
                        audience="public" if n % 3 else "employees",
                        status="identified" if n > 4 else None,
                    ),
                    author=alex,
                )
                if update.state == "pending":
                    await do_approve_update(session, update_id=update.id, approver=bo, reason=None)
            for pending in await repository.pending_updates(session, 10):
                await do_approve_update(session, update_id=pending.id, approver=bo, reason=None)
    finally:
        await engine.dispose()
    return {"alex": alex_token, "bo": bo_token, "incident": str(incident.id)}


# --- the load -----------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    status = int((await reader.readline()).split()[1])
    length, chunked = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        size = 0
        while chunk := int((await reader.readline()).strip(), 16):
            size += len(await reader.readexactly(chunk + 2)) - 2
        await reader.readline()
        return status, size
    if length:
        await reader.readexactly(length)
    return status, length


async def _connection(
    port: int, request: bytes, until: float, statuses: Counter[int], sizes: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while time.perf_counter() < until:
            writer.write(request)
            status, size = await _read_response(reader)
            statuses[status] += 1
            if not sizes:
                sizes.append(size)
    finally:
        writer.close()


async def hammer(
    port: int, path: str, *, seconds: float, connections: int, headers: str = ""
) -> dict[str, Any]:
    """Requests/s on one path over `connections` keep-alive connections."""
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n".encode()
    statuses: Counter[int] = Counter()
    sizes: list[int] = []
    start = time.perf_counter()
    await asyncio.gather(
        *(_connection(port, request, start + seconds, statuses, sizes) for _ in range(connections))
    )
    elapsed = time.perf_counter() - start
    total = sum(statuses.values())
    return {
        "path": path,
        "requests": total,
        "seconds": round(elapsed, 2),
        "per_second": round(total / elapsed, 1),
        "statuses": dict(statuses),
        "body_bytes": sizes[0] if sizes else 0,
    }


async def publish_while(port: int, tokens: dict[str, str], until: float) -> int:
    """An agent posts a public update and a second person approves it, once a second."""
    published = 0
    incident = tokens["incident"]
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30) as client:
        while time.perf_counter() < until:
            posted = await client.post(
                f"/api/v1/status/incidents/{incident}/updates",
                json={"body": f"Progress note {published}", "audience": "public"},
                headers={"Authorization": f"Bearer {tokens['alex']}"},
            )
            approved = await client.post(
                f"/api/v1/status/updates/{posted.json()['id']}/approve",
                json={},
                headers={"Authorization": f"Bearer {tokens['bo']}"},
            )
            published += approved.status_code == 200
            await asyncio.sleep(1.0)
    return published


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def _wait_ready(port: int) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://{HOST}:{port}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")


async def run(args: argparse.Namespace) -> None:
    secret_key = secrets.token_urlsafe(32)
    async with scratch_database(args.database or None) as url:
        tokens = await seed(url, secret_key)
        port = _free_port()
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.status_page", "serve", str(port), url, secret_key
        )
        try:
            if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
                os.sched_setaffinity(server.pid, {0})
                os.sched_setaffinity(0, {1})
            await _wait_ready(port)
            await measure(port, tokens, args)
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), timeout=10)


def _merge(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    for one in rounds:
        statuses.update(one["statuses"])
    requests = sum(r["requests"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)
    return {
        "path": rounds[0]["path"],
        "requests": requests,
        "seconds": round(seconds, 2),
        "per_second": round(requests / seconds, 1),
        "statuses": dict(statuses),
        "body_bytes": rounds[0]["body_bytes"],
    }


async def measure(port: int, tokens: dict[str, str], args: argparse.Namespace) -> None:
    # Rounds interleave the targets, so a noisy neighbour on the machine hurts them alike.
    load = {"seconds": args.seconds / args.rounds, "connections": args.connections}
    async with httpx.AsyncClient() as client:
        etag = (await client.get(f"http://{HOST}:{port}/status")).headers["etag"]
    targets = {
        "page": ("/status", ""),
        "feed_atom": ("/status/feed.atom", ""),
        "revalidation_304": ("/status", f"If-None-Match: {etag}\r\n"),
        "static": ("/static/app.css", ""),
    }
    for path, headers in targets.values():  # warm every cache first
        await hammer(port, path, seconds=0.5, connections=4, headers=headers)
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for _ in range(args.rounds):
        for name, (path, headers) in targets.items():
            found[name].append(await hammer(port, path, headers=headers, **load))
    until = time.perf_counter() + args.seconds
    publishing, published = await asyncio.gather(
        hammer(port, "/status", seconds=args.seconds, connections=args.connections),
        publish_while(port, tokens, until),
    )
    publishing["updates_published_meanwhile"] = published
    merged = {name: _merge(rounds) for name, rounds in found.items()}
    static = merged.pop("static")
    extra = {
        name: figure | {"ratio": round(figure["per_second"] / static["per_second"], 4)}
        for name, figure in [*merged.items(), ("page_while_publishing", publishing)]
        if name != "page"
    }
    emit(
        "status_page",
        merged["page"],
        static,
        database="postgresql" if args.database else "sqlite",
        connections=args.connections,
        **extra,
    )


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per target, all rounds")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per target")
    parser.add_argument("--database", help="a PostgreSQL URL (default: a SQLite file)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
