"""The production shape, as real processes: two API replicas and two workers on PostgreSQL
and Redis, a real SMTP server, and a worker SIGKILLed while it sends.

A status update written on one replica and approved on the other reaches every e-mail
subscriber: once per subscriber and mail (a mail the dying worker had handed over may come
again, with the same Message-ID, which receiving systems drop), with the RFC 8058 one-click
headers; a subscriber whose mailbox refuses the mail holds up nobody and ends as a dead
letter; the decision retention pass runs in one worker only. A chat message posted on one
replica reaches a socket on the other once; when Redis dies, every socket is closed with
1011 and a client that resumes from its last id gets what was posted meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.config import Settings
from app.db import unit_of_work
from app.models import Delivery, Role, Service, WorkerLease
from app.status.subscribers.outbox import recipient_key
from tests.chat.wsclient import ChatClient, open_client
from tests.factories import auth, create_ticket, create_user
from tests.notifications.receivers import SmtpSink
from tests.status.test_status_mail import add_subscriber
from tests.test_cli import _env, _free_port

SUBSCRIBERS = 40
REFUSED = "full.mailbox@example.org"


async def _healthy(url: str, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            assert process.returncode is None, await process.communicate()
            try:
                if (await http.get(f"{url}/readyz", timeout=1)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not become ready")


class RedisServer:
    """A Redis of a test's own (the shared one carries other tests' channels), killable."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise AssertionError("redis-server did not start")

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    server = RedisServer()
    await server.start()
    yield server
    await server.kill()


@pytest.fixture
async def own_redis(redis_server: RedisServer) -> str:
    return redis_server.url


async def test_two_replicas_and_two_workers_send_each_status_mail_once_through_a_crash(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession], own_redis: str
) -> None:
    if settings.is_sqlite:
        pytest.skip("the production shape is PostgreSQL; SQLite serves one machine")
    sink = SmtpSink(delay=0.05)  # slow enough that the kill lands mid-batch
    sink.refuse = {REFUSED: "550 5.2.2 mailbox full"}
    smtp_url = await sink.start()
    async with unit_of_work(committed_db) as session:
        await session.execute(delete(WorkerLease))
        _, admin = await create_user(session, role=Role.ADMIN)
        _, alex = await create_user(session, role=Role.AGENT)
        _, bo = await create_user(session, role=Role.AGENT)
    env = _env(
        settings,
        SOCIALDESK_REDIS_URL=own_redis,
        SOCIALDESK_SMTP_URL=smtp_url,
        SOCIALDESK_BASE_URL="http://desk.example.com",
        SOCIALDESK_OUTBOX_LEASE_SECONDS="3",
        SOCIALDESK_LOG_LEVEL="warning",
    )
    processes: list[asyncio.subprocess.Process] = []

    async def start(*args: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app", *args, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        processes.append(process)
        return process

    ports = [_free_port(), _free_port()]
    replicas = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for port, url in zip(ports, replicas, strict=True):
            await _healthy(url, await start("serve", "--no-workers", "--port", str(port)))
        doomed, survivor = await start("worker"), await start("worker")
        async with httpx.AsyncClient(base_url=replicas[0]) as one:
            made = await one.post(
                "/api/v1/services",
                json={"slug": "vpn", "name": "VPN", "visibility": "public"},
                headers=auth(admin),
            )
            assert made.status_code == 201, made.text
        async with unit_of_work(committed_db) as session:
            service_id = await session.scalar(select(Service.id).where(Service.slug == "vpn"))
            assert service_id is not None
            for n in range(SUBSCRIBERS):
                await add_subscriber(session, f"reader{n}@example.org", [service_id])
            refused_id = await add_subscriber(session, REFUSED, [service_id])
        killed: list[int] = []

        def kill_mid_batch(count: int) -> None:
            if count == 10 and not killed:
                os.kill(doomed.pid, signal.SIGKILL)
                killed.append(doomed.pid)

        sink.on_message = kill_mid_batch
        async with httpx.AsyncClient(base_url=replicas[0]) as one:
            incident = await one.post(
                "/api/v1/status/incidents",
                json={
                    "kind": "incident",
                    "title": "VPN gateway down",
                    "services": [{"service": "vpn", "impact": "major_outage"}],
                    "update": {
                        "body": "gw-02 crashed",
                        "audience": "public",
                        "public_body": "The VPN is down; we are on it.",
                    },
                },
                headers=auth(alex),
            )
            assert incident.status_code == 201, incident.text
            update_id = incident.json()["updates"][0]["id"]
        async with httpx.AsyncClient(base_url=replicas[1]) as two:  # the second person
            approved = await two.post(
                f"/api/v1/status/updates/{update_id}/approve", json={}, headers=auth(bo)
            )
            assert approved.status_code == 200, approved.text

        readers = {f"reader{n}@example.org" for n in range(SUBSCRIBERS)}
        for _ in range(600):
            got = {str(m["To"]) for m in sink.messages}
            if readers <= got and await _dead(committed_db, refused_id):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"{len(readers - got)} readers still waiting")
        await asyncio.sleep(1)  # nothing more comes
        assert killed, "the first worker was never killed"
        assert survivor.returncode is None
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        errors = [(await p.communicate())[1].decode() for p in processes]
        await sink.stop()

    update_mails = [m for m in sink.messages if str(m["To"]) in readers]
    ids_per_reader: dict[str, set[str]] = {}
    for mail in update_mails:
        ids_per_reader.setdefault(str(mail["To"]), set()).add(str(mail["Message-ID"]))
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert str(mail["List-Unsubscribe"]).strip().startswith("<http://desk.example.com/status/")
        assert "gw-02" not in str(mail.get_body(preferencelist=("plain",)))  # staff text
    assert set(ids_per_reader) == readers
    assert all(len(ids) == 1 for ids in ids_per_reader.values())  # a resend is the same mail
    copies = Counter(str(m["To"]) for m in update_mails)
    assert sum(copies.values()) - len(copies) <= 10  # only what the dying worker handed over
    async with committed_db() as session:
        leases = (await session.execute(select(WorkerLease))).scalars().all()
    retention = [lease for lease in leases if lease.name == "decision-retention"]
    assert len(retention) == 1  # one owner ran the pass for both workers
    assert not any("Traceback" in e for e in errors), errors


async def _dead(db: async_sessionmaker[AsyncSession], subscriber_id: int) -> bool:
    """The refused subscriber's update mail is a dead letter (an admin may retry it)."""
    async with db() as session:
        stmt = select(Delivery.status).where(
            Delivery.recipient_key == recipient_key(subscriber_id),
            Delivery.event_key.like("status.update:%"),
        )
        return "dead" in (await session.execute(stmt)).scalars().all()


async def _closed_with(client: ChatClient, seconds: float = 15) -> int | None:
    """Read what was in flight until the server closes the socket; its close code."""
    try:
        while True:
            await asyncio.wait_for(client.ws.recv(), seconds)
    except ConnectionClosed:
        return client.ws.close_code


async def test_chat_crosses_replicas_once_and_survives_redis_dying(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession], redis_server: RedisServer
) -> None:
    if settings.is_sqlite:
        pytest.skip("the production shape is PostgreSQL; SQLite serves one machine")
    async with unit_of_work(committed_db) as session:
        _, agent = await create_user(session, role=Role.AGENT, name="Alex Agent")
        requester_user, requester = await create_user(session, name="Erin Employee")
        ticket = await create_ticket(session, requester=requester_user)
    env = _env(settings, SOCIALDESK_REDIS_URL=redis_server.url, SOCIALDESK_LOG_LEVEL="warning")
    ports = [_free_port(), _free_port()]
    a, b = (f"http://127.0.0.1:{p}" for p in ports)
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "serve",
            "--no-workers",
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        for port in ports
    ]
    clients: list[ChatClient] = []
    try:
        for url, process in zip((a, b), processes, strict=True):
            await _healthy(url, process)
        reader = await open_client(b, requester)
        writer = await open_client(a, agent)
        clients += [reader, writer]
        await reader.send(type="subscribe", ticket_id=ticket.id)
        await reader.expect("subscribed")
        await writer.send(type="message", ticket_id=ticket.id, body="on A", client_msg_id="1")
        first = (await reader.expect("message"))["message"]
        assert first["body"] == "on A"
        await reader.expect_none("message", within=1.0)  # once, not once per replica

        await redis_server.kill()
        # Both replicas lost their feed: every socket is told to resume rather than left
        # open and silently deaf.
        assert await _closed_with(reader) == 1011
        assert await _closed_with(writer) == 1011

        # Posted while Redis is down: stored all the same (the bus is not the record).
        async with httpx.AsyncClient(base_url=a, headers=auth(agent), timeout=10) as http:
            during = await http.post(
                f"/api/v1/tickets/{ticket.id}/messages",
                json={"body": "while redis was down", "visibility": "public"},
            )
        assert during.status_code == 201, during.text

        await redis_server.start()
        for _ in range(100):  # the replica reconnects its feed; a socket may open again
            try:
                back = await open_client(b, requester)
                break
            except (OSError, InvalidStatus, ConnectionClosed, AssertionError):
                await asyncio.sleep(0.2)
        else:
            raise AssertionError("replica B never accepted sockets again after Redis returned")
        clients.append(back)
        await back.send(type="subscribe", ticket_id=ticket.id, since=first["id"])
        subscribed = await back.expect("subscribed")
        assert [m["message"]["body"] for m in subscribed["backlog"]] == ["while redis was down"]

        # And live delivery across replicas works again.
        writer = await open_client(a, agent)
        clients.append(writer)
        await writer.send(type="message", ticket_id=ticket.id, body="back", client_msg_id="3")
        assert (await back.expect("message", seconds=10))["message"]["body"] == "back"
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        for process in processes:
            if process.returncode is None:
                process.terminate()
        errors = [(await p.communicate())[1].decode() for p in processes]
    assert not any("Traceback" in e for e in errors), errors
