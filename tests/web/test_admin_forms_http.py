"""The new admin pages over plain HTTP: who may reach them, CSRF, validation, secrets."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import sessions
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance, Role, Service
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_connector, create_user

STORED_KEY = "stored-secret-key-abcdef123456"


@dataclass
class Browsing:
    """A signed-in web session: the cookie is set on the client, `csrf` goes in forms."""

    csrf: str


async def browse_as(client: httpx.AsyncClient, session: AsyncSession, role: Role) -> Browsing:
    user, _ = await create_user(session, role=role)
    token, row = await sessions.do_start_session(session, user=user)
    await session.commit()
    client.cookies.set(sessions.COOKIE, token)
    return Browsing(row.csrf_token)


@pytest.fixture
async def gone_redmine(session: AsyncSession) -> ConnectorInstance:
    instance = ConnectorInstance(
        kind="redmine",
        name="Redmine (gone)",
        base_url="http://127.0.0.1:9",
        secrets_sealed=SecretBox(TEST_SECRET_KEY).seal({"api_key": STORED_KEY}),
        settings={"project": "it-services", "sync_from": "2026-01-01T00:00:00+00:00"},
        remote_identity="redmine:http://127.0.0.1:9:project:it-services",
    )
    session.add(instance)
    await session.commit()
    return instance


class TestWhoMayReach:
    @pytest.mark.parametrize("role", [Role.AGENT, Role.END_USER])
    async def test_non_admins_get_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession, role: Role
    ) -> None:
        connector = await create_connector(session)
        session.add(Service(slug="mail", name="Mail", visibility="public"))
        me = await browse_as(client, session, role)
        for path in (
            "/admin/services",
            "/admin/services/mail",
            f"/admin/connectors/{connector.id}",
        ):
            assert (await client.get(path)).status_code == 404, path
        for path in (
            "/admin/services",
            "/admin/services/mail",
            f"/admin/connectors/{connector.id}",
            f"/admin/connectors/{connector.id}/sync",
        ):
            posted = await client.post(path, data={"csrf": me.csrf, "name": "x", "slug": "x"})
            assert posted.status_code == 404, path
        async with session.begin():
            assert (await session.get(ConnectorInstance, connector.id)) is not None

    async def test_anonymous_readers_are_sent_to_sign_in(self, client: httpx.AsyncClient) -> None:
        for path in ("/admin/services", "/admin/connectors/1"):
            response = await client.get(path)
            assert response.status_code == 303
            assert response.headers["location"] == f"/login?next={path}"

    async def test_unknown_service_and_connector_are_not_found(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        me = await browse_as(client, session, Role.ADMIN)
        assert (await client.get("/admin/services/nope")).status_code == 404
        assert (await client.get("/admin/connectors/999999")).status_code == 404
        posted = await client.post("/admin/services/nope", data={"csrf": me.csrf, "name": "x"})
        assert posted.status_code == 404


class TestServiceForms:
    async def test_a_form_without_the_session_token_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await browse_as(client, session, Role.ADMIN)
        refused = await client.post(
            "/admin/services", data={"csrf": "forged", "slug": "vpn", "name": "VPN"}
        )
        assert refused.status_code == 403
        assert "The form expired" in refused.text
        assert (await client.get("/admin/services/vpn")).status_code == 404

    async def test_validation_errors_are_shown_next_to_their_fields(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        me = await browse_as(client, session, Role.ADMIN)
        bad = await client.post(
            "/admin/services",
            data={"csrf": me.csrf, "slug": "No Good", "name": "", "visibility": "everyone"},
        )
        assert bad.status_code == 422
        for field in ("s-slug", "s-name", "s-visibility"):
            assert f'id="{field}-error"' in bad.text
            assert f'aria-describedby="{field}-error"' in bad.text
        assert "lower-case letters" in bad.text

        made = await client.post(
            "/admin/services",
            data={"csrf": me.csrf, "slug": "vpn", "name": "VPN", "visibility": "employees"},
        )
        assert made.status_code == 200
        assert "Added VPN." in made.text
        again = await client.post(
            "/admin/services",
            data={"csrf": me.csrf, "slug": "vpn", "name": "VPN 2", "visibility": "public"},
        )
        assert again.status_code == 409
        assert 'id="s-slug-error"' in again.text

    async def test_an_edit_is_validated_then_saved(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        session.add(Service(slug="wifi", name="Wi-Fi", visibility="internal"))
        me = await browse_as(client, session, Role.ADMIN)
        form = {"csrf": me.csrf, "name": "", "group": "Network", "visibility": "public"}
        bad = await client.post("/admin/services/wifi", data=form)
        assert bad.status_code == 422
        assert 'id="s-name-error"' in bad.text
        assert 'value="Network"' in bad.text  # what was typed stays
        forged = await client.post("/admin/services/wifi", data={**form, "csrf": "x"})
        assert forged.status_code == 403

        saved = await client.post("/admin/services/wifi", data={**form, "name": "Wi-Fi (office)"})
        assert saved.status_code == 303
        assert saved.headers["location"] == "/admin/services/wifi?saved=1"
        listed = await client.get("/admin/services")
        assert "Wi-Fi (office)" in listed.text
        assert "Network" in listed.text
        api = (await client.get("/admin/services/wifi?saved=1")).text
        assert "Saved." in api


class TestConnectorForms:
    async def test_the_page_shows_health_and_never_a_secret(
        self, client: httpx.AsyncClient, session: AsyncSession, gone_redmine: ConnectorInstance
    ) -> None:
        await browse_as(client, session, Role.ADMIN)
        page = await client.get(f"/admin/connectors/{gone_redmine.id}")
        assert page.status_code == 200
        assert STORED_KEY not in page.text
        assert 'name="secret.api_key"' in page.text
        assert "never synced" in page.text
        assert "sync_from=" not in page.text  # fixed when added: not offered for editing
        listed = await client.get("/admin/connectors")
        assert f'href="/admin/connectors/{gone_redmine.id}"' in listed.text

    async def test_new_credentials_are_checked_before_saving(
        self, client: httpx.AsyncClient, session: AsyncSession, gone_redmine: ConnectorInstance
    ) -> None:
        me = await browse_as(client, session, Role.ADMIN)
        url = f"/admin/connectors/{gone_redmine.id}"
        form = {
            "csrf": me.csrf,
            "name": "Renamed",
            "poll_interval": "60",
            "enabled": "on",
            "secret.api_key": "new-key-that-fails-000",
            "settings": "project=it-services",
        }
        refused = await client.post(url, data=form)
        assert refused.status_code == 422
        assert "new-key-that-fails-000" not in refused.text
        assert STORED_KEY not in refused.text
        await session.refresh(gone_redmine)
        assert gone_redmine.name == "Redmine (gone)"
        assert SecretBox(TEST_SECRET_KEY).open(gone_redmine.secrets_sealed) == {
            "api_key": STORED_KEY
        }

        changed = await client.post(url, data={**form, "secret.api_key": "", "settings": ""})
        assert changed.status_code == 200, changed.text
        assert "Saved." in changed.text
        await session.refresh(gone_redmine)
        assert (gone_redmine.name, gone_redmine.poll_interval) == ("Renamed", 60)
        assert SecretBox(TEST_SECRET_KEY).open(gone_redmine.secrets_sealed) == {
            "api_key": STORED_KEY
        }

    @pytest.mark.parametrize(
        ("change", "status", "says"),
        [
            ({"csrf": "forged"}, 403, "The form expired"),
            ({"poll_interval": "0"}, 422, "poll interval"),
            ({"poll_interval": "soon"}, 422, "poll interval"),
            ({"settings": "project=other"}, 422, "check"),
        ],
    )
    async def test_refusals_say_why_and_change_nothing(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        gone_redmine: ConnectorInstance,
        change: dict[str, str],
        status: int,
        says: str,
    ) -> None:
        me = await browse_as(client, session, Role.ADMIN)
        form = {"csrf": me.csrf, "name": "Changed", "poll_interval": "20", **change}
        refused = await client.post(f"/admin/connectors/{gone_redmine.id}", data=form)
        assert refused.status_code == status
        assert says in refused.text
        await session.refresh(gone_redmine)
        assert (gone_redmine.name, gone_redmine.poll_interval) == ("Redmine (gone)", 10)
