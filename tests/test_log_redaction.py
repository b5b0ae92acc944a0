"""A token in a URL (`/ws?token=…`) is never written to the server's log."""

from __future__ import annotations

import asyncio
import json
import sys

from websockets.asyncio.client import connect

from app.config import Settings
from tests.test_cli import REDIS_URL, _env, _free_port, _run


async def test_socket_and_request_tokens_are_redacted_from_uvicorn_logs(settings: Settings) -> None:
    env = _env(settings, SOCIALDESK_LOG_LEVEL="info", SOCIALDESK_REDIS_URL=REDIS_URL)
    made = _run(
        ["users", "create", "--email", "logs@example.net", "--name", "Logs", "--role", "agent"],
        env,
    )
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app", "serve", "--no-workers", "--port", str(port)),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(100):
            try:
                async with connect(f"ws://127.0.0.1:{port}/ws?token={token}") as socket:
                    await socket.send(json.dumps({"type": "ping"}))
                    await asyncio.wait_for(socket.recv(), timeout=5)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the server did not answer")
    finally:
        server.terminate()
        out, err = await asyncio.wait_for(server.communicate(), timeout=20)
    logs = (out + err).decode()
    assert "/ws?token=[redacted]" in logs  # the socket was logged, without its token
    assert token not in logs
