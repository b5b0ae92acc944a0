"""The demo: people, a demo desk connector, and logins that can be printed on every start."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository as users_repo
from app.auth.service import do_create_user
from app.config import Settings
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance, Role
from app.status.demo import seed_status
from app.sync.instances import do_add_instance, new_http_client

DEMO_PASSWORD = "socialdesk-demo"  # noqa: S105 - printed to the person running the demo

# The agents and first three end users are the people the demo desk's tickets name.
DEMO_PEOPLE: tuple[tuple[str, str, Role], ...] = (
    ("admin@example.com", "Ada Admin", Role.ADMIN),
    ("alex@example.com", "Alex Agent", Role.AGENT),
    ("bo@example.com", "Bo Agent", Role.AGENT),
    ("erin@example.com", "Erin Employee", Role.END_USER),
    ("sam@example.com", "Sam Sales", Role.END_USER),
    ("priya@example.com", "Priya Finance", Role.END_USER),
)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    name: str
    role: Role
    password: str
    token: str


def ensure_secret_key(settings: Settings) -> None:
    """Generate and keep a key for the demo when SOCIALDESK_SECRET_KEY is not set."""
    if settings.secret_key is not None:
        return
    path: Path = settings.state_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)


def demo_token(secret_key: str, email: str) -> str:
    """Derived from the secret key, so the same token can be printed on every start."""
    digest = hmac.new(secret_key.encode(), f"demo-token:{email}".encode(), hashlib.sha256)
    return "sd_demo_" + digest.hexdigest()[:40]


async def seed(session: AsyncSession, settings: Settings) -> list[DemoLogin]:
    """Create the demo people and the demo desk once; return their logins."""
    key = settings.require_secret_key()
    logins = []
    for email, name, role in DEMO_PEOPLE:
        token = demo_token(key, email)
        if await users_repo.get_by_email(session, email) is None:
            await do_create_user(
                session, email=email, name=name, role=role, password=DEMO_PASSWORD, token=token
            )
        logins.append(DemoLogin(email, name, role, DEMO_PASSWORD, token))
    has_demo = await session.scalar(
        select(ConnectorInstance.id).where(ConnectorInstance.kind == "demo").limit(1)
    )
    if has_demo is None:
        async with new_http_client() as http:
            await do_add_instance(
                session,
                box=SecretBox(key),
                http=http,
                kind="demo",
                name="Demo desk",
                url=None,
                secrets={},
                settings={"rate": "12"},
                poll_interval=3,
            )
    await seed_status(session, author_email="alex@example.com", approver_email="admin@example.com")
    return logins
