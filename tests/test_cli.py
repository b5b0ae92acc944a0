"""The `socialdesk` command, run as a real process against the test database."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from app.config import Settings
from tests.conftest import TEST_SECRET_KEY

REDIS_URL = "redis://127.0.0.1:6379/0"


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
    env.update(
        SOCIALDESK_DATABASE_URL=settings.database_url,
        SOCIALDESK_SECRET_KEY=TEST_SECRET_KEY,
        SOCIALDESK_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


def _run(
    args: list[str],
    env: dict[str, str],
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
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
def server(settings: Settings) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        env=_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)


def test_users_create_prints_id_and_a_working_token(
    settings: Settings, server: tuple[str, subprocess.Popen[str]]
) -> None:
    result = _run(
        [
            "users",
            "create",
            "--email",
            "cli.agent@example.com",
            "--name",
            "Cli Agent",
            "--role",
            "agent",
        ],
        _env(settings),
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert isinstance(created["id"], int)
    assert created["token"].startswith("sd_")
    url, _ = server
    me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {created['token']}"})
    assert me.json()["email"] == "cli.agent@example.com"
    again = _run(
        ["users", "create", "--email", "cli.agent@example.com", "--name", "X", "--role", "agent"],
        _env(settings),
    )
    assert again.returncode == 2
    assert again.stderr.strip().startswith("socialdesk: a user with e-mail")


def test_serve_stops_cleanly_on_sigterm(server: tuple[str, subprocess.Popen[str]]) -> None:
    url, process = server
    assert httpx.get(f"{url}/readyz").status_code == 200
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises the signal so supervisors see it
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in stderr


def _read_until(stream: IO[str], marker: str, timeout: float) -> str:
    """What a child process printed up to the line holding `marker` (no fixed sleeps)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            line = stream.readline()
            if not line:
                break
            seen.append(line)
            if marker in line:
                return "".join(seen)
    raise AssertionError(f"no {marker!r} within {timeout}s; printed: {''.join(seen)}")


def test_worker_starts_and_stops_cleanly(settings: Settings) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "worker"],
        env=_env(settings, SOCIALDESK_LOG_LEVEL="info", SOCIALDESK_REDIS_URL=REDIS_URL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    started = _read_until(process.stderr, "worker started", timeout=60)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Traceback" not in started + stderr


def test_a_worker_stopped_while_it_starts_exits_cleanly(settings: Settings) -> None:
    # Supervisors stop processes whenever they like, including while one still connects.
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "worker"],
        env=_env(settings, SOCIALDESK_LOG_LEVEL="info", SOCIALDESK_REDIS_URL=REDIS_URL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    _read_until(process.stderr, "starting: checking the database", timeout=60)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "worker started" not in stderr
    assert "Traceback" not in stderr


def test_an_unreachable_database_is_one_line_and_a_nonzero_exit(settings: Settings) -> None:
    env = _env(
        settings,
        SOCIALDESK_DATABASE_URL="postgresql://sd:pw@127.0.0.1:1/nowhere",
        SOCIALDESK_REDIS_URL=REDIS_URL,
    )
    for command in (["migrate"], ["serve", "--port", "1"], ["worker"]):
        result = _run(command, env)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "SOCIALDESK_DATABASE_URL" in lines[0]
        assert "Traceback" not in result.stderr
        assert ":pw@" not in lines[0]


def test_split_processes_without_redis_refuse_to_start_in_one_line(settings: Settings) -> None:
    # Each would run with its own in-process bus and silently lose every live event.
    for command in (["worker"], ["serve", "--no-workers", "--port", "1"]):
        result = _run(command, _env(settings))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "SOCIALDESK_REDIS_URL" in lines[0]


def test_unknown_connector_kind_lists_the_known_ones(settings: Settings) -> None:
    result = _run(["connectors", "add", "--kind", "bugzilla", "--name", "B"], _env(settings))
    assert result.returncode == 2
    assert "known kinds:" in result.stderr
    assert "demo" in result.stderr


def test_servicenow_settings_are_checked_before_anything_is_sent(settings: Settings) -> None:
    # The kind comes from the entry points; a missing setting is refused in one line.
    command = ["connectors", "add", "--kind", "servicenow", "--name", "SN"]
    command += ["--url", "https://acme.service-now.com", "--secret", "token=tok-Xy12"]
    result = _run(command, _env(settings))
    assert result.returncode == 2, result.stderr
    assert "servicenow: missing assignment_group" in result.stderr
    assert "tok-Xy12" not in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_serves_tickets_that_keep_changing(tmp_path: Path, settings: Settings) -> None:
    """The README's run path: migrate, seed, serve; the desk is alive through the API."""
    port = _free_port()
    env = _env(settings, SOCIALDESK_DATABASE_URL=f"sqlite:///{tmp_path}/demo.db")
    del env["SOCIALDESK_SECRET_KEY"]  # the demo generates and keeps its own
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "demo", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, seconds=60)
        assert (tmp_path / ".socialdesk" / "secret_key").exists()
        # read the printed logins
        assert process.stdout is not None
        lines: list[str] = []
        while not any("priya@example.com" in line for line in lines):
            lines.append(process.stdout.readline())
        logins = {parts[1]: parts[3] for parts in (ln.split() for ln in lines) if len(parts) == 4}
        assert set(logins) >= {"admin@example.com", "alex@example.com", "erin@example.com"}
        agent = {"Authorization": f"Bearer {logins['alex@example.com']}"}
        erin = {"Authorization": f"Bearer {logins['erin@example.com']}"}

        def snapshot() -> dict[int, str]:
            items = httpx.get(f"{url}/api/v1/tickets?limit=200", headers=agent).json()["items"]
            return {t["id"]: t["external_updated_at"] for t in items}

        deadline = time.monotonic() + 30
        first = snapshot()
        while not first and time.monotonic() < deadline:
            time.sleep(0.5)
            first = snapshot()
        assert first, "the demo desk produced no tickets"
        changed = first
        while changed == first and time.monotonic() < deadline:
            time.sleep(1)
            changed = snapshot()
        assert changed != first, "nothing changed within 30 s"
        mine = httpx.get(f"{url}/api/v1/tickets?limit=200", headers=erin).json()["items"]
        assert all(t["requester_name"] == "Erin Employee" for t in mine)
        # People hear about the desk's activity (which people depends on the random seed),
        # and the links point at the port the demo serves on.
        deadline = time.monotonic() + 60
        inbox: list[dict[str, object]] = []
        while not inbox and time.monotonic() < deadline:
            time.sleep(1)
            for token in logins.values():
                inbox += httpx.get(
                    f"{url}/api/v1/me/notifications",
                    headers={"Authorization": f"Bearer {token}"},
                ).json()["items"]
        assert inbox, "no notification reached any demo user"
        assert all(str(n["url"]).startswith(url) for n in inbox if n["url"])
    finally:
        process.terminate()
        process.wait(timeout=20)
