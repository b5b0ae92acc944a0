"""The test identity provider (LemonLDAP::NG, tests/tooling/idp): its details and login form.

Test modules load the `idp` fixture with `pytest_plugins = ["tests.auth.idp_support"]`.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.config import SsoProvider


@dataclass(frozen=True)
class Person:
    login: str
    password: str
    email: str


@dataclass(frozen=True)
class Idp:
    discovery_url: str
    client_id: str
    client_secret: str
    state_dir: Path
    admin: Person
    agent: Person
    employee: Person

    def provider(self) -> SsoProvider:
        return SsoProvider(
            name="lemonldap",
            label="Socialdesk Test ID",
            discovery_url=self.discovery_url,
            client_id=self.client_id,
            client_secret=SecretStr(self.client_secret),
            scopes="openid email profile groups",
            roles={"it-admins": "admin", "it-staff": "agent"},
        )


@pytest.fixture(scope="session")
def idp(repo_root: Path) -> Idp:
    """The provider's details (its start script installs and provisions it once)."""
    out = subprocess.run(
        [str(repo_root / "tests/tooling/idp/start")],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ},
    ).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def person(key: str) -> Person:
        login, password, email = env[key].split(":", 2)
        return Person(login, password, email)

    return Idp(
        discovery_url=env["SOCIALDESK_IDP_DISCOVERY_URL"],
        client_id=env["SOCIALDESK_IDP_CLIENT_ID"],
        client_secret=env["SOCIALDESK_IDP_CLIENT_SECRET"],
        state_dir=Path(env["SOCIALDESK_IDP_STATE"]),
        admin=person("SOCIALDESK_IDP_USER_ADMIN"),
        agent=person("SOCIALDESK_IDP_USER_AGENT"),
        employee=person("SOCIALDESK_IDP_USER_EMPLOYEE"),
    )


async def login_at_provider(authorize_url: str, person: Person) -> str:
    """Fill in the provider's login form; the provider's redirect back to us (not followed)."""
    async with httpx.AsyncClient(timeout=20) as browser:  # a fresh browser: no IdP session
        form = await browser.get(authorize_url)
        assert form.status_code == 200, form.text
        token = re.search(r'name="token"\s+value="([^"]+)"', form.text)
        assert token is not None, "the login form has no one-time token"
        sent = await browser.post(
            authorize_url,
            data={"user": person.login, "password": person.password, "token": token[1]},
        )
        assert sent.status_code == 302, sent.text[:500]
        return sent.headers["location"]
