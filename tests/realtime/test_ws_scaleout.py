"""Two real `socialdesk serve` processes on one Redis share conversations."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from app.config import Settings
from tests.chat.wsclient import ChatClient, open_client
from tests.conftest import TEST_SECRET_KEY

if TYPE_CHECKING:
    from tests.chat.live import Desk

pytest_plugins = ["tests.chat.live"]
REDIS_URL = "redis://127.0.0.1:6379/0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(settings: Settings) -> tuple[str, subprocess.Popen[str]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
    env.update(
        SOCIALDESK_DATABASE_URL=settings.database_url,
        SOCIALDESK_SECRET_KEY=TEST_SECRET_KEY,
        SOCIALDESK_REDIS_URL=settings.redis_url or REDIS_URL,
        SOCIALDESK_LOG_LEVEL="warning",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--no-workers", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return f"http://127.0.0.1:{port}", process


def _wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.communicate()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("server did not become healthy")


@pytest.fixture
def replicas(settings: Settings) -> Iterator[tuple[str, str]]:
    started = [_start(settings), _start(settings)]
    try:
        for url, process in started:
            _wait_healthy(url, process)
        yield started[0][0], started[1][0]
    finally:
        for _, process in started:
            process.terminate()
        for _, process in started:
            _, stderr = process.communicate(timeout=20)
            assert "Traceback" not in stderr, stderr


async def _subscribed(url: str, token: str, ticket_id: int) -> ChatClient:
    client = await open_client(url, token)
    await client.send(type="subscribe", ticket_id=ticket_id)
    await client.expect("subscribed", ticket_id=ticket_id)
    return client


@pytest.mark.integration
async def test_a_message_posted_on_one_replica_reaches_sockets_on_the_other(
    replicas: tuple[str, str], desk: Desk
) -> None:
    one, two = replicas
    ticket_id = desk.ticket.id
    agent = await _subscribed(one, desk.agent_token, ticket_id)
    requester = await _subscribed(two, desk.requester_token, ticket_id)
    colleague = await _subscribed(two, desk.agent2_token, ticket_id)
    try:
        await agent.send(
            type="message",
            ticket_id=ticket_id,
            body="internal across replicas",
            visibility="internal",
            client_msg_id="s-1",
        )
        await agent.send(
            type="message", ticket_id=ticket_id, body="hello from one", client_msg_id="s-2"
        )
        await colleague.expect("message", body="internal across replicas")
        await colleague.expect("message", body="hello from one")
        await requester.expect("message", body="hello from one")

        async with httpx.AsyncClient(base_url=two) as http:
            posted = await http.post(
                f"/api/v1/tickets/{ticket_id}/messages",
                json={"body": "reply over HTTP on two"},
                headers={"Authorization": f"Bearer {desk.requester_token}"},
            )
        assert posted.status_code == 201
        await agent.expect("message", body="reply over HTTP on two")
        await requester.roundtrip()
        bodies = [(f.get("message") or {}).get("body") for f in requester.received]
        assert "internal across replicas" not in bodies
    finally:
        for client in (agent, requester, colleague):
            await client.close()
