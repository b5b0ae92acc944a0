"""SAML 2.0 sign-in against a real IdP (LemonLDAP::NG's SAML issuer, tests/tooling/idp).

httpx plays the browser: it follows our redirect (HTTP-Redirect binding) to the IdP, fills
in the login form, and posts the IdP's auto-submitting form (HTTP-POST binding) to our ACS.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.main import create_app
from app.models import IdentityAudit, Role, SamlAssertion, SsoLogin, User
from app.runtime import Runtime
from tests.auth.idp_support import Idp, Person, saml_login_at_provider
from tests.conftest import make_runtime

pytest_plugins = ["tests.auth.idp_support"]
pytestmark = pytest.mark.integration
ACS = "http://testserver/auth/saml/lemonldap-saml/acs"


@pytest.fixture
async def saml_runtime(
    settings: Settings, db: async_sessionmaker[AsyncSession], idp: Idp
) -> AsyncIterator[Runtime]:
    configured = settings.model_copy(
        update={"saml_providers": [idp.saml_provider()], "base_url": "http://testserver"}
    )
    runtime = make_runtime(configured, db)
    yield runtime
    await runtime.http.aclose()


def _browser(runtime: Runtime) -> httpx.AsyncClient:
    app = create_app(runtime.settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def app_client(saml_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with _browser(saml_runtime) as client:
        yield client


async def _idp_answer(app: httpx.AsyncClient, person: Person) -> dict[str, str]:
    started = await app.get("/auth/saml/lemonldap-saml/start", params={"next": "/tickets"})
    assert started.status_code == 303, started.text
    action, fields = await saml_login_at_provider(started.headers["location"], person)
    assert action == ACS
    return fields


async def _post(app: httpx.AsyncClient, fields: dict[str, str]) -> httpx.Response:
    return await app.post(ACS.removeprefix("http://testserver"), data=fields)


async def _me(app: httpx.AsyncClient) -> dict[str, object]:
    me = await app.get("/api/v1/me")
    assert me.status_code == 200, me.text
    body: dict[str, object] = me.json()
    return body


async def test_metadata_names_our_entity_id_and_acs(app_client: httpx.AsyncClient) -> None:
    answer = await app_client.get("/auth/saml/lemonldap-saml/metadata")
    assert answer.status_code == 200
    assert 'entityID="http://testserver/auth/saml/lemonldap-saml/metadata"' in answer.text
    assert ACS in answer.text


@pytest.mark.parametrize(
    ("who", "role"), [("admin", Role.ADMIN), ("agent", Role.AGENT), ("employee", Role.END_USER)]
)
async def test_each_person_gets_the_role_of_their_groups(
    app_client: httpx.AsyncClient, session: AsyncSession, idp: Idp, who: str, role: Role
) -> None:
    person: Person = getattr(idp, who)
    signed_in = await _post(app_client, await _idp_answer(app_client, person))
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == "/tickets"
    me = await _me(app_client)
    assert me["email"] == person.email
    assert me["role"] == role.value
    user = (await session.execute(select(User).where(User.email == person.email))).scalar_one()
    assert user.role is role
    actions = (
        await session.execute(select(IdentityAudit.action).where(IdentityAudit.user_id == user.id))
    ).scalars()
    assert "signed_in" in set(actions)


async def test_a_replayed_response_is_refused(
    app_client: httpx.AsyncClient, saml_runtime: Runtime, session: AsyncSession, idp: Idp
) -> None:
    fields = await _idp_answer(app_client, idp.agent)
    assert (await _post(app_client, fields)).status_code == 303
    # The same browser posts it again: that sign-in is finished.
    again = await _post(app_client, fields)
    assert again.status_code == 400
    assert "Start again" in again.text
    # A fresh browser that began its own sign-in posts the captured response: its request
    # is not the one the response answers.
    async with _browser(saml_runtime) as other:
        assert (await other.get("/auth/saml/lemonldap-saml/start")).status_code == 303
        replayed = await _post(other, fields)
        assert replayed.status_code == 400
        assert "does not match the one this browser started" in replayed.text
        # Even a sign-in in flight for that very request (say, the response raced to two
        # replicas) is refused: the assertion's ID was stored at its first use.
        assert (await other.get("/auth/saml/lemonldap-saml/start")).status_code == 303
        xml = base64.b64decode(fields["SAMLResponse"]).decode()
        request_id = re.search(r'InResponseTo="([^"]+)"', xml)
        assert request_id is not None
        await session.execute(
            update(SsoLogin)
            .where(SsoLogin.provider == "lemonldap-saml")
            .values(state=request_id[1], nonce=fields["RelayState"])
        )
        raced = await _post(other, fields)
        assert raced.status_code == 400
        assert "already been used" in raced.text
        assert (await other.get("/api/v1/me")).status_code == 401
    assert (await session.execute(select(SamlAssertion))).first() is not None


async def test_a_tampered_response_is_refused(
    app_client: httpx.AsyncClient, session: AsyncSession, idp: Idp
) -> None:
    fields = await _idp_answer(app_client, idp.employee)
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    assert idp.employee.email in xml
    forged = xml.replace(idp.employee.email, idp.admin.email)
    fields["SAMLResponse"] = base64.b64encode(forged.encode()).decode()
    refused = await _post(app_client, fields)
    assert refused.status_code == 400
    assert "could not be verified" in refused.text
    assert (await app_client.get("/api/v1/me")).status_code == 401
    reasons = (
        await session.execute(select(IdentityAudit.detail).where(IdentityAudit.action == "refused"))
    ).scalars()
    assert any("Failed to verify signature" in str(r) for r in reasons)  # not, say, a parse


async def test_a_response_for_another_browsers_request_is_refused(
    app_client: httpx.AsyncClient, saml_runtime: Runtime, idp: Idp
) -> None:
    fields = await _idp_answer(app_client, idp.admin)  # Alice's browser's sign-in
    async with _browser(saml_runtime) as other:
        # Another browser, with no sign-in of its own, then with one of its own.
        no_flow = await _post(other, fields)
        assert no_flow.status_code == 400
        assert "another browser" in no_flow.text
        assert (await other.get("/auth/saml/lemonldap-saml/start")).status_code == 303
        mismatch = await _post(other, fields)
        assert mismatch.status_code == 400
        assert (await other.get("/api/v1/me")).status_code == 401
    # Alice's own browser can still finish hers.
    assert (await _post(app_client, fields)).status_code == 303


def test_provider_names_are_unique_across_oidc_and_saml(settings: Settings, idp: Idp) -> None:
    saml = idp.saml_provider()
    oidc = idp.provider().model_copy(update={"name": saml.name})
    with pytest.raises(ValueError, match="must be unique"):
        Settings.model_validate(
            {**settings.model_dump(), "sso_providers": [oidc], "saml_providers": [saml]}
        )
