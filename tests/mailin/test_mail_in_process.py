"""`socialdesk mail-in` as its own process: replies stored, and told to the API over Redis."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from datetime import timedelta
from email.message import EmailMessage

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.kit.clock import utcnow
from app.mailin.addresses import ReplyAddresses
from app.models import ChatMessage
from app.realtime.bus import create_bus
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_ticket, create_user
from tests.test_cli import REDIS_URL, _env, _run

DOMAIN = "reply.desk.example"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _listening(port: int, process: asyncio.subprocess.Process) -> None:
    for _ in range(150):
        assert process.returncode is None, await process.communicate()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise AssertionError("mail-in did not listen")


async def test_a_reply_taken_by_mail_in_reaches_the_api_processes_over_redis(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    async with committed_db() as session:
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        await session.commit()
    port = _free_port()
    env = _env(settings, SOCIALDESK_REDIS_URL=REDIS_URL, SOCIALDESK_REPLY_DOMAIN=DOMAIN)
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app", "mail-in", "--port", str(port)),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    bus = create_bus(REDIS_URL)  # where an API replica hears of new chat messages
    await bus.connect()
    try:
        await _listening(port, process)
        replies = ReplyAddresses([TEST_SECRET_KEY], domain=DOMAIN, ttl=timedelta(days=1))
        mail = EmailMessage()
        mail["From"] = erin.email
        to = replies.address(ticket_id=ticket.id, user_id=erin.id, public=True, now=utcnow())
        mail["To"] = to
        mail["Message-ID"] = "<process@example.net>"
        mail.set_content("Sent from my phone, taken by mail-in.")
        async with bus.subscribe(f"ticket:{ticket.id}") as live:
            await aiosmtplib.send(mail, hostname="127.0.0.1", port=port)
            envelope = await asyncio.wait_for(anext(live), timeout=10)
        assert "taken by mail-in" in str(envelope)
        async with committed_db() as session:
            stmt = select(ChatMessage.body).where(ChatMessage.ticket_id == ticket.id)
            assert list((await session.execute(stmt)).scalars()) == [
                "Sent from my phone, taken by mail-in."
            ]
    finally:
        await bus.disconnect()
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    stderr = err.decode()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_mail_in_refuses_to_start_without_a_shared_bus(settings: Settings) -> None:
    result = _run(["mail-in", "--port", "0"], _env(settings, SOCIALDESK_REPLY_DOMAIN=DOMAIN))
    assert result.returncode == 2
    assert "SOCIALDESK_REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr
    unset = _run(["mail-in", "--port", "0"], _env(settings, SOCIALDESK_REDIS_URL=REDIS_URL))
    assert unset.returncode == 2
    assert "SOCIALDESK_REPLY_DOMAIN" in unset.stderr


async def test_serve_runs_the_listener_itself_on_one_machine_without_redis(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    async with committed_db() as session:
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        await session.commit()
    port, smtp_port = _free_port(), _free_port()
    env = _env(
        settings,
        SOCIALDESK_REPLY_DOMAIN=DOMAIN,
        SOCIALDESK_MAIL_IN_LISTEN=f"127.0.0.1:{smtp_port}",
    )
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app", "serve", "--port", str(port)),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await _listening(smtp_port, process)
        replies = ReplyAddresses([TEST_SECRET_KEY], domain=DOMAIN, ttl=timedelta(days=1))
        mail = EmailMessage()
        mail["From"] = erin.email
        mail["To"] = replies.address(
            ticket_id=ticket.id, user_id=erin.id, public=True, now=utcnow()
        )
        mail.set_content("Answered into the single process.")
        await aiosmtplib.send(mail, hostname="127.0.0.1", port=smtp_port)
        async with committed_db() as session:
            stmt = select(ChatMessage.body).where(ChatMessage.ticket_id == ticket.id)
            assert list((await session.execute(stmt)).scalars()) == [
                "Answered into the single process."
            ]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert "Traceback" not in err.decode()
