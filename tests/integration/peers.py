"""Where the real peer servers (Redmine, RT) are, for the integration tests.

From the environment when the peer's `<NAME>_URL` is set (as printed by its start script),
else by running `../shared/peers/<name>/start` (idempotent: it only prints the env lines
when the server is already up) and parsing its `KEY=VALUE` lines. A peer that is not
installed on this machine skips the tests; one whose start script fails fails them.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
from pathlib import Path

import pytest

PEERS = Path(__file__).resolve().parents[2].parent / "shared" / "peers"
START_TIMEOUT = 900  # a cold start installs packages: 35 s measured, minutes on slow mirrors

REQUIRED = {
    "redmine": (
        "REDMINE_URL",
        "REDMINE_AGENT_KEY",
        "REDMINE_USER_KEY",
        "REDMINE_ADMIN_KEY",
        "REDMINE_PROJECT",
    ),
    "rt": (
        "RT_URL",
        "RT_AGENT_TOKEN",
        "RT_USER_TOKEN",
        "RT_ADMIN_TOKEN",
        "RT_QUEUE",
        "RT_USER_EMAIL",
    ),
}


def parse_env_lines(text: str) -> dict[str, str]:
    """`KEY=VALUE` lines (as the start scripts print them); anything else is ignored."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.isidentifier() and key.isupper():
            found[key] = value.strip()
    return found


@functools.cache
def peer_env(name: str) -> dict[str, str]:
    """The peer's environment: URL, keys or tokens, project or queue."""
    # The integration tests read the peers' own variables, not Socialdesk settings.
    environ = dict(os.environ)
    if all(environ.get(key) for key in REQUIRED[name]):
        return {k: v for k, v in environ.items() if k.startswith(name.upper() + "_")}
    script = PEERS / name / "start"
    if not script.exists():
        pytest.skip(f"the {name} peer is not available here ({script} missing)")
    result = subprocess.run(
        [str(script)], capture_output=True, text=True, timeout=START_TIMEOUT, check=False
    )
    found = parse_env_lines(result.stdout)
    missing = [key for key in REQUIRED[name] if not found.get(key)]
    if result.returncode != 0 or missing:
        tail = result.stderr.strip().splitlines()[-5:]
        pytest.fail(f"{script} failed (exit {result.returncode}, missing {missing}): {tail}")
    return found


def closed_port_url() -> str:
    """An http URL on a loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
