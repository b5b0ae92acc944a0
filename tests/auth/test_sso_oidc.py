"""Single sign-on against a real OpenID Connect provider (LemonLDAP::NG, tests/tooling/idp).

The browser's part is played by httpx: it follows our redirect to the provider, fills in
the provider's login form, and brings the provider's redirect back to us. The back channel
(token, keys) is the app's own HTTP client, as in production.
"""

from __future__ import annotations

import base64
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.sso.oidc import OidcClient, SsoError
from app.config import Settings
from app.main import create_app
from app.models import IdentityAudit, Role, User
from app.runtime import Runtime
from tests.auth.idp_support import Idp, Person, login_at_provider
from tests.conftest import make_runtime
from tests.factories import auth, create_ticket, create_user

pytest_plugins = ["tests.auth.idp_support"]
pytestmark = pytest.mark.integration
CALLBACK = "http://testserver/auth/sso/lemonldap/callback"


@pytest.fixture
async def sso_runtime(
    settings: Settings, db: async_sessionmaker[AsyncSession], idp: Idp
) -> AsyncIterator[Runtime]:
    configured = settings.model_copy(
        update={"sso_providers": [idp.provider()], "base_url": "http://testserver"}
    )
    runtime = make_runtime(configured, db)
    yield runtime
    await runtime.http.aclose()


@pytest.fixture
async def app_client(sso_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A browser's view of Socialdesk: cookies kept, redirects not followed."""
    app = create_app(sso_runtime.settings, runtime=sso_runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _start(app: httpx.AsyncClient, next_path: str = "/tickets") -> str:
    started = await app.get("/auth/sso/lemonldap/start", params={"next": next_path})
    assert started.status_code == 303, started.text
    return started.headers["location"]


async def _sign_in(app: httpx.AsyncClient, person: Person) -> httpx.Response:
    back = await login_at_provider(await _start(app), person)
    assert back.startswith(CALLBACK), back
    return await app.get(back.removeprefix("http://testserver"))


async def _me(app: httpx.AsyncClient) -> dict[str, object]:
    me = await app.get("/api/v1/me")
    assert me.status_code == 200, me.text
    body: dict[str, object] = me.json()
    return body


async def test_admin_agent_and_employee_each_get_their_role_and_only_what_it_may_see(
    app_client: httpx.AsyncClient, session: AsyncSession, idp: Idp
) -> None:
    # Emma is already a requester, mirrored from the ticketing system: she must be matched,
    # not created twice.
    emma, _ = await create_user(session, email=idp.employee.email, name="EMPLOYEE, Emma")
    ticket = await create_ticket(session, requester=emma)
    _, author = await create_user(session, role=Role.AGENT)
    for body, visibility in (("We are on it", "public"), ("gw-02 core dump", "internal")):
        posted = await app_client.post(
            f"/api/v1/tickets/{ticket.id}/messages",
            json={"body": body, "visibility": visibility},
            headers=auth(author),
        )
        assert posted.status_code == 201, posted.text
    seen: dict[str, list[str]] = {}
    for person, role in ((idp.admin, "admin"), (idp.agent, "agent"), (idp.employee, "end_user")):
        app_client.cookies.clear()
        signed_in = await _sign_in(app_client, person)
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == "/tickets"
        me = await _me(app_client)
        assert (me["email"], me["role"]) == (person.email, role)
        messages = await app_client.get(f"/api/v1/tickets/{ticket.id}/messages")
        assert messages.status_code == 200, messages.text
        seen[role] = [m["body"] for m in messages.json()["items"]]
    assert seen["admin"] == seen["agent"] == ["We are on it", "gw-02 core dump"]
    assert seen["end_user"] == ["We are on it"]  # internal content never reaches her
    assert me["id"] == emma.id
    actions = (
        await session.execute(select(IdentityAudit.action).where(IdentityAudit.user_id == emma.id))
    ).scalars()
    assert list(actions) == ["linked", "signed_in"]


@pytest.fixture
def agent_groups(idp: Idp) -> Iterator[sqlite3.Connection]:
    """The provider's user table, with the agent's groups put back afterwards."""
    db = sqlite3.connect(idp.state_dir / "users.db")
    (before,) = db.execute("SELECT groups_csv FROM users WHERE login = 'agent'").fetchone()
    try:
        yield db
    finally:
        db.execute("UPDATE users SET groups_csv = ? WHERE login = 'agent'", (before,))
        db.commit()
        db.close()


async def test_moved_out_of_the_staff_group_loses_internal_content_at_the_next_sign_in(
    app_client: httpx.AsyncClient,
    session: AsyncSession,
    idp: Idp,
    agent_groups: sqlite3.Connection,
) -> None:
    requester, _ = await create_user(session)
    ticket = await create_ticket(session, requester=requester)
    assert (await _sign_in(app_client, idp.agent)).status_code == 303
    agent_id = (await _me(app_client))["id"]
    posted = await app_client.post(
        f"/api/v1/tickets/{ticket.id}/messages",
        json={"body": "internal: check the RADIUS logs", "visibility": "internal"},
        headers={"X-CSRF-Token": await _csrf(app_client)},
    )
    assert posted.status_code == 201, posted.text

    agent_groups.execute("UPDATE users SET groups_csv = 'employees' WHERE login = 'agent'")
    agent_groups.commit()
    app_client.cookies.clear()
    assert (await _sign_in(app_client, idp.agent)).status_code == 303
    me = await _me(app_client)
    assert (me["id"], me["role"]) == (agent_id, "end_user")
    gone = await app_client.get(f"/api/v1/tickets/{ticket.id}/messages")
    assert gone.status_code in (403, 404)  # not their ticket, and no staff access left
    change = await session.scalar(
        select(IdentityAudit.detail).where(IdentityAudit.action == "role_changed")
    )
    assert change is not None
    assert (change["before"], change["after"]) == ("agent", "end_user")


async def _csrf(app: httpx.AsyncClient) -> str:
    page = await app.get("/tickets")
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text) or re.search(
        r'name="csrf" value="([^"]+)"', page.text
    )
    assert found is not None, "no CSRF token on the page"
    return found[1]


async def test_a_callback_used_twice_or_in_another_browser_is_refused_with_a_page(
    app_client: httpx.AsyncClient, idp: Idp
) -> None:
    back = (await login_at_provider(await _start(app_client), idp.employee)).removeprefix(
        "http://testserver"
    )
    elsewhere = httpx.AsyncClient(transport=app_client._transport, base_url="http://testserver")
    async with elsewhere:
        foreign = await elsewhere.get(back)  # no flow cookie: not the browser that began
    assert foreign.status_code == 400
    assert "another browser" in foreign.text
    flow_cookie = app_client.cookies["sd_sso"]
    first = await app_client.get(back)
    assert first.status_code == 303
    app_client.cookies.clear()  # a second browser that copied the first one's cookie
    app_client.cookies.set("sd_sso", flow_cookie, domain="testserver.local", path="/auth/sso/")
    replayed = await app_client.get(back)
    assert replayed.status_code == 400
    # Refused by us before the provider is asked (which would refuse a used code, too).
    assert "already been used" in replayed.text
    assert "sd_session" not in replayed.cookies


async def test_a_wrong_nonce_is_refused(
    app_client: httpx.AsyncClient, session: AsyncSession, idp: Idp
) -> None:
    # The provider signs whatever nonce the request carried; ours must be the one we sent.
    authorize = urlsplit(await _start(app_client))
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    query["nonce"] = "someone-elses-nonce"
    forged = urlunsplit(authorize._replace(query=urlencode(query)))
    back = await login_at_provider(forged, idp.employee)
    refused = await app_client.get(back.removeprefix("http://testserver"))
    assert refused.status_code == 400
    assert "could not be verified" in refused.text
    assert "sd_session" not in refused.cookies
    reason = await session.scalar(
        select(IdentityAudit.detail["reason"].as_string()).where(IdentityAudit.action == "refused")
    )
    assert reason is not None
    assert "nonce" in reason
    assert await session.scalar(select(User).where(User.email == idp.employee.email)) is None


async def test_a_cancelled_sign_in_at_the_provider_is_a_page_not_a_500(
    app_client: httpx.AsyncClient, idp: Idp
) -> None:
    authorize = urlsplit(await _start(app_client))
    state = parse_qs(authorize.query)["state"][0]
    refused = await app_client.get(
        "/auth/sso/lemonldap/callback", params={"error": "access_denied", "state": state}
    )
    assert refused.status_code == 400
    assert "not completed" in refused.text
    unknown = await app_client.get("/auth/sso/nope/start")
    assert unknown.status_code == 404


async def test_a_tampered_id_token_is_refused(sso_runtime: Runtime, idp: Idp) -> None:
    client = OidcClient(idp.provider(), sso_runtime.http)
    verifier = "v" * 64
    url = await client.authorization_url(
        redirect_uri=CALLBACK, state="s-1", nonce="n-1", code_verifier=verifier
    )
    code = parse_qs(urlsplit(await login_at_provider(url, idp.agent)).query)["code"][0]
    tokens = await client.exchange_code(code=code, redirect_uri=CALLBACK, code_verifier=verifier)
    id_token = tokens["id_token"]
    claims = await client.verify_id_token(id_token, nonce="n-1", access_token=None)
    assert claims["email"] == idp.agent.email
    assert claims["groups"] == ["employees", "it-staff"]

    header, payload, signature = id_token.split(".")
    forged_claims = base64.urlsafe_b64decode(payload + "==").replace(
        idp.agent.email.encode(), idp.admin.email.encode()
    )
    forged = base64.urlsafe_b64encode(forged_claims).rstrip(b"=").decode()
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    for bad in (f"{header}.{forged}.{signature}", f"{header}.{payload}.{flipped}",
                f"{unsigned}.{payload}."):  # fmt: skip
        with pytest.raises(SsoError, match="could not be verified"):
            await client.verify_id_token(bad, nonce="n-1", access_token=None)
    with pytest.raises(SsoError, match="could not be verified"):
        await client.verify_id_token(id_token, nonce="n-2", access_token=None)
    with pytest.raises(SsoError, match="refused"):
        await client.exchange_code(code=code, redirect_uri=CALLBACK, code_verifier=verifier)
