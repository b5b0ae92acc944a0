"""A real server process and a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import redis
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import Role
from tests.factories import create_user
from tests.test_cli import REDIS_URL, _env, _free_port, _wait_healthy

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def web_server(settings: Settings) -> Iterator[str]:
    # Sign-in failures of earlier runs are counted in Redis for a quarter of an hour.
    keys = redis.Redis.from_url(REDIS_URL)
    for key in keys.scan_iter("sd:attempts:*"):
        keys.delete(key)
    keys.close()
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--no-workers"],
        env=_env(settings, SOCIALDESK_REDIS_URL=REDIS_URL),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        await browser.close()


@dataclass
class Person:
    id: int
    email: str
    name: str
    token: str


async def make_person(db: async_sessionmaker[AsyncSession], role: Role, name: str) -> Person:
    async with db() as session:
        user, token = await create_user(session, role=role, name=name, password=PASSWORD)
        await session.commit()
        return Person(user.id, user.email, user.name, token)


async def signed_in(
    browser: Browser, base_url: str, person: Person, *, viewport: dict[str, int] | None = None
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        base_url=base_url,
        viewport=viewport or {"width": 1280, "height": 800},  # type: ignore[arg-type]
    )
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(person.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/tickets")
    return context, page
