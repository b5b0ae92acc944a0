"""Single sign-on in a real browser: our sign-in page, the provider's form, back signed in.

The server runs with the test provider (tests/tooling/idp) and passwords for admins only,
on one of the ports whose callback the provider allows (its redirect URIs are exact).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
import redis
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import Role
from tests.auth.idp_support import Idp, Person
from tests.factories import create_user
from tests.test_cli import REDIS_URL, _env, _wait_healthy
from tests.web.conftest import PASSWORD

pytest_plugins = ["tests.auth.idp_support"]
ALLOWED_PORTS = range(8765, 8775)  # tests/tooling/idp/start's redirect URIs


def _allowed_port() -> int:
    for port in ALLOWED_PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("every port the provider allows a callback on is taken")


@pytest.fixture(scope="module")
def sso_server(settings: Settings, idp: Idp) -> Iterator[str]:
    keys = redis.Redis.from_url(REDIS_URL)  # earlier runs' sign-in failures
    for key in keys.scan_iter("sd:attempts:*"):
        keys.delete(key)
    keys.close()
    port = _allowed_port()
    url = f"http://127.0.0.1:{port}"
    provider = idp.provider().model_dump(mode="json")
    provider["client_secret"] = idp.client_secret
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--no-workers"],
        env=_env(
            settings,
            SOCIALDESK_REDIS_URL=REDIS_URL,
            SOCIALDESK_BASE_URL=url,
            SOCIALDESK_SSO_PROVIDERS=json.dumps([provider]),
            SOCIALDESK_SAML_PROVIDERS=json.dumps([idp.saml_provider().model_dump(mode="json")]),
            SOCIALDESK_PASSWORD_SIGN_IN='["admin"]',
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _at_provider(idp: Idp) -> str:
    """A URL pattern for the provider's pages (SOCIALDESK_IDP_PORT may move it)."""
    return idp.discovery_url.removesuffix("/.well-known/openid-configuration") + "/**"


async def _sign_in_with_provider(
    page: Page, person: Person, idp: Idp, label: str = "Socialdesk Test ID"
) -> None:
    await page.goto("/login")
    await page.get_by_role("link", name=f"Sign in with {label}", exact=True).click()
    await page.wait_for_url(_at_provider(idp))
    await page.locator("input[name=user]").fill(person.login)
    await page.locator("input[name=password]").fill(person.password)
    await page.locator("input[name=password]").press("Enter")
    await page.wait_for_url("**/tickets")


async def test_an_agent_signs_in_with_the_provider_and_out_of_both(
    browser: Browser, sso_server: str, idp: Idp
) -> None:
    context = await browser.new_context(base_url=sso_server)
    page = await context.new_page()
    await _sign_in_with_provider(page, idp.agent, idp)
    await expect(page.locator(".who")).to_contain_text("Arthur Agent")
    await expect(page.locator(".who")).to_contain_text("agent")
    await expect(page.get_by_role("link", name="Status desk")).to_be_visible()  # staff only

    await page.get_by_role("button", name="Sign out").click()
    await expect(
        page.get_by_role("heading", name="You are signed out of Socialdesk")
    ).to_be_visible()
    await page.get_by_role("link", name="Sign out there as well").click()
    await page.wait_for_url(f"{sso_server}/login")  # back from the provider's logout
    # Signed out there too: the provider asks for the password again.
    await page.get_by_role("link", name="Sign in with Socialdesk Test ID", exact=True).click()
    await page.wait_for_url(_at_provider(idp))
    await expect(page.locator("input[name=password]")).to_be_visible()
    await context.close()


async def test_an_employee_gets_no_staff_pages(browser: Browser, sso_server: str, idp: Idp) -> None:
    context = await browser.new_context(base_url=sso_server)
    page = await context.new_page()
    await _sign_in_with_provider(page, idp.employee, idp)
    await expect(page.locator(".who")).to_contain_text("Emma Employee")
    await expect(page.get_by_role("link", name="Status desk")).to_have_count(0)
    await expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    await context.close()


async def test_an_admin_signs_in_with_saml(browser: Browser, sso_server: str, idp: Idp) -> None:
    # The IdP's answer is its auto-submitting form (HTTP-POST binding), run by the browser.
    context = await browser.new_context(base_url=sso_server)
    page = await context.new_page()
    await _sign_in_with_provider(page, idp.admin, idp, label=idp.saml_provider().label)
    await expect(page.locator(".who")).to_contain_text("Ada Admin")
    await expect(page.locator(".who")).to_contain_text("admin")
    await context.close()


async def test_roles_without_passwords_are_sent_to_the_provider(
    sso_server: str, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    async with committed_db() as session:
        agent, _ = await create_user(session, role=Role.AGENT, password=PASSWORD)
        admin, _ = await create_user(session, role=Role.ADMIN, password=PASSWORD)
        await session.commit()
    async with httpx.AsyncClient(base_url=sso_server) as http:

        async def with_password(email: str) -> httpx.Response:
            http.cookies.clear()
            form = await http.get("/login")
            csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            return await http.post("/login", data={"email": email, "password": PASSWORD,
                                                   "csrf": csrf})  # fmt: skip

        refused = await with_password(agent.email)
        assert refused.status_code == 403
        assert "Your account signs in with Socialdesk Test ID" in refused.text
        assert "sd_session" not in refused.cookies
        allowed = await with_password(admin.email)  # the admins' fallback stays
        assert allowed.status_code == 303
        assert "sd_session" in allowed.cookies
