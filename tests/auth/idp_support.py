"""The test identity provider (LemonLDAP::NG, tests/tooling/idp): its details and login form.

Test modules load the `idp` fixture with `pytest_plugins = ["tests.auth.idp_support"]`.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.config import SamlProvider, SsoProvider


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
    saml_metadata_url: str
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

    def saml_provider(self) -> SamlProvider:
        return SamlProvider(
            name="lemonldap-saml",
            label="Socialdesk Test ID (SAML)",
            metadata_url=self.saml_metadata_url,
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
        saml_metadata_url=env["SOCIALDESK_IDP_SAML_METADATA_URL"],
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


async def saml_login_at_provider(sso_url: str, person: Person) -> tuple[str, dict[str, str]]:
    """Log in at the IdP's SAML SSO URL; the auto-submitting form's action and fields."""
    async with httpx.AsyncClient(timeout=20) as browser:  # a fresh browser: no IdP session
        form = await browser.get(sso_url)
        assert form.status_code == 200, form.text[:500]
        token = re.search(r'name="token"\s+value="([^"]+)"', form.text)
        assert token is not None, "the login form has no one-time token"
        sent = await browser.post(
            sso_url, data={"user": person.login, "password": person.password, "token": token[1]}
        )
        for _ in range(5):  # the portal may take a hop or two before the POST binding's form
            if sent.status_code not in (302, 303):
                break
            sent = await browser.get(sent.headers["location"])
        assert sent.status_code == 200, sent.text[:500]
        return post_binding_form(sent.text)


def post_binding_form(html: str) -> tuple[str, dict[str, str]]:
    """The SAML HTTP-POST binding's form: its action and hidden SAMLResponse/RelayState."""
    action = re.search(r'<form[^>]*action="([^"]+)"', html)
    assert action is not None, html[:1000]
    fields = dict(
        re.findall(r'<input[^>]*name="(SAMLResponse|RelayState)"[^>]*value="([^"]*)"', html)
    )
    assert "SAMLResponse" in fields, html[:1000]
    return unescape(action[1]), {k: unescape(v) for k, v in fields.items()}
