"""Issues per second of a full initial Redmine sync through the service, against the real peer.

Seeds `--count` issues (default 2,000; not timed) in a project of its own on the Redmine
peer (`socialdesk-bench`, created with the admin key), so the shared `it-services` project
and the tests that poll it stay small. Seeding is idempotent: issues whose subject carries
the `[sd-bench]` marker are counted and only the missing ones are created; every tenth new
issue also gets a note, so some issues have journals.

The figure: `sync_instance` on a fresh database (a scratch SQLite file, and a scratch
PostgreSQL database with `--database-url postgresql://...`), from an empty cursor until
nothing is left: list the project's issues, read each with its journals, store tickets,
events and the cursor page by page (with the policy hooks the service runs on ingest).
The reference, in the same run: a plain httpx loop reading the same data the way any
client has to (list pages of 100, then `GET /issues/<id>.json?include=journals` each),
storing nothing. It is measured before and after each figure; the mean is reported.

    .venv/bin/python -m bench.sync_ingest
    .venv/bin/python -m bench.sync_ingest --database-url sqlite \
        --database-url postgresql://postgres@127.0.0.1:5432/postgres

The Redmine peer is found like the integration tests find it: `REDMINE_URL` and
`REDMINE_ADMIN_KEY` in the environment, else `../shared/peers/redmine/start` is run.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from app.config import Settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance, Ticket, TicketEvent
from app.realtime.bus import MemoryBus
from app.sync.engine import sync_instance
from app.sync.instances import new_http_client
from bench.common import emit, peak_rss_kib, scratch_database

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"
MARKER = "[sd-bench]"
PROJECT = "socialdesk-bench"
BENCH_KEY = "bench-secret-key-" + "x" * 32


# --- the peer and its data (not timed) ---------------------------------------------------


def redmine_env(environ: dict[str, str]) -> dict[str, str]:
    """URL and admin key of the Redmine peer (started if need be)."""
    if environ.get("REDMINE_URL") and environ.get("REDMINE_ADMIN_KEY"):
        return environ
    result = subprocess.run(
        [str(PEERS / "redmine" / "start")], capture_output=True, text=True, check=True
    )
    found = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.isupper():
            found[key] = value
    return found


class Seeder:
    def __init__(self, http: httpx.AsyncClient, url: str, key: str) -> None:
        self.http, self.url = http, url
        self.headers = {"X-Redmine-API-Key": key}

    async def ensure_project(self) -> None:
        found = await self.http.get(f"{self.url}/projects/{PROJECT}.json", headers=self.headers)
        if found.status_code == 200:
            return
        project = {
            "name": "Socialdesk bench",
            "identifier": PROJECT,
            "is_public": False,
            "tracker_ids": [1, 2, 3],
            "enabled_module_names": ["issue_tracking"],
        }
        created = await self.http.post(
            f"{self.url}/projects.json", json={"project": project}, headers=self.headers
        )
        created.raise_for_status()

    async def existing(self) -> int:
        params: dict[str, str | int] = {
            "project_id": PROJECT,
            "status_id": "*",
            "subject": f"~{MARKER}",
            "limit": 1,
        }
        response = await self.http.get(
            f"{self.url}/issues.json", params=params, headers=self.headers
        )
        response.raise_for_status()
        return int(response.json()["total_count"])

    async def create(self, n: int) -> None:
        issue = {
            "project_id": PROJECT,
            "tracker_id": 3,
            "subject": f"{MARKER} Request {n:05d}: printer on floor {n % 7} jams",
            "description": "The printer stops after a few pages and shows error 0x" + f"{n:04x}. "
            "Restarting it helps for an hour. " * 3,
            "priority_id": random.choice([1, 2, 2, 2, 3, 4]),
        }
        response = await self.http.post(
            f"{self.url}/issues.json", json={"issue": issue}, headers=self.headers
        )
        response.raise_for_status()
        if n % 10 == 0:
            issue_id = response.json()["issue"]["id"]
            note = {
                "notes": f"Ordered a new fuser for request {n:05d}.",
                "private_notes": n % 20 == 0,
            }
            updated = await self.http.put(
                f"{self.url}/issues/{issue_id}.json", json={"issue": note}, headers=self.headers
            )
            updated.raise_for_status()

    async def seed(self, count: int, concurrency: int) -> dict[str, Any]:
        await self.ensure_project()
        have = await self.existing()
        numbers = iter(range(have, count))
        started = time.perf_counter()

        async def worker() -> None:
            for n in numbers:
                await self.create(n)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return {
            "found": have,
            "created": max(0, count - have),
            "seconds": round(time.perf_counter() - started, 1),
        }


# --- the reference: read the same data with plain httpx ----------------------------------


async def reference_read(url: str, key: str) -> dict[str, Any]:
    headers = {"X-Redmine-API-Key": key}
    issues = journals = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as http:
        offset, total = 0, 1
        while offset < total:
            params: dict[str, str | int] = {
                "project_id": PROJECT,
                "status_id": "*",
                "sort": "updated_on,id",
                "offset": offset,
                "limit": 100,
            }
            listing = await http.get(f"{url}/issues.json", params=params, headers=headers)
            listing.raise_for_status()
            data = listing.json()
            total = data["total_count"]
            for listed in data["issues"]:
                one = await http.get(
                    f"{url}/issues/{listed['id']}.json",
                    params={"include": "journals"},
                    headers=headers,
                )
                one.raise_for_status()
                issues += 1
                journals += len(one.json()["issue"]["journals"])
            offset += len(data["issues"])
    seconds = time.perf_counter() - started
    return {"issues": issues, "journals": journals, "seconds": seconds}


# --- the figure: a full initial sync through the service ---------------------------------


async def service_sync(database_url: str, url: str, key: str) -> dict[str, Any]:
    async with scratch_database(database_url) as scratch:
        engine = create_engine(Settings(database_url=scratch))
        sessionmaker = create_sessionmaker(engine)
        box = SecretBox(BENCH_KEY)
        async with unit_of_work(sessionmaker) as session:
            instance = ConnectorInstance(
                kind="redmine",
                name="Redmine bench",
                base_url=url,
                secrets_sealed=box.seal({"api_key": key}),
                settings={"project": PROJECT},
                remote_identity=f"redmine:{url}:project:{PROJECT}",
            )
            session.add(instance)
        passes = pages = 0
        started = time.perf_counter()
        async with new_http_client() as http:
            while True:
                report = await sync_instance(sessionmaker, MemoryBus(), box, http, instance.id)
                if report.error:
                    raise RuntimeError(f"sync failed: {report.error}")
                passes, pages = passes + 1, pages + report.pages
                if not report.has_more:
                    break
        seconds = time.perf_counter() - started
        async with sessionmaker() as session:
            tickets = await session.scalar(select(func.count()).select_from(Ticket))
            events = await session.scalar(select(func.count()).select_from(TicketEvent))
        await engine.dispose()
    return {
        "tickets": int(tickets or 0),
        "events": int(events or 0),
        "passes": passes,
        "pages": pages,
        "seconds": seconds,
    }


def database_kind(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="issues to seed (default 2000)")
    parser.add_argument("--seed-concurrency", type=int, default=4)
    parser.add_argument(
        "--database-url",
        action="append",
        help="sqlite (default) and/or a postgresql:// URL; repeat to measure both",
    )
    args = parser.parse_args()
    env = redmine_env(dict(os.environ))  # noqa: TID251 - the peer's variables, not settings
    url, key = env["REDMINE_URL"], env["REDMINE_ADMIN_KEY"]

    async with httpx.AsyncClient(timeout=30) as http:
        seeding = await Seeder(http, url, key).seed(args.count, args.seed_concurrency)

    results: dict[str, Any] = {}
    for database_url in args.database_url or ["sqlite"]:
        before = await reference_read(url, key)
        figure = await service_sync(database_url, url, key)
        after = await reference_read(url, key)
        ref_seconds = (before["seconds"] + after["seconds"]) / 2
        results[database_kind(database_url)] = {
            "figure": {
                **figure,
                "seconds": round(figure["seconds"], 2),
                "per_second": round(figure["tickets"] / figure["seconds"], 1),
            },
            "reference": {
                "issues": before["issues"],
                "journals": before["journals"],
                "seconds": round(ref_seconds, 2),
                "runs": [round(before["seconds"], 2), round(after["seconds"], 2)],
                "per_second": round(before["issues"] / ref_seconds, 1),
            },
        }
    first = next(iter(results.values()))
    emit(
        "sync_ingest",
        {**first["figure"], "database": next(iter(results))},
        first["reference"],
        by_database={
            kind: {
                "issues_per_second": r["figure"]["per_second"],
                "reference_per_second": r["reference"]["per_second"],
                "ratio": round(r["figure"]["per_second"] / r["reference"]["per_second"], 3),
                "seconds": r["figure"]["seconds"],
            }
            for kind, r in results.items()
        },
        seeding=seeding,
        redmine=url,
        project=PROJECT,
        peak_rss_kib=peak_rss_kib(),
    )


if __name__ == "__main__":
    asyncio.run(main())
