"""`check()` (shared/peers/redmine/README.md § Test data, § Auth, § Error responses)."""

from __future__ import annotations

import httpx

from tests.connectors.redmine.fake_redmine import FakeRedmine, empty, make_connector


async def test_agent_key_is_healthy() -> None:
    health = await make_connector(FakeRedmine()).check()
    assert health.ok
    assert health.remote_identity == "redmine:http://redmine.test:project:it-services"


async def test_identity_is_canonical() -> None:
    connector = make_connector(FakeRedmine(), url="HTTP://REDMINE.test:80/", project="1")
    health = await connector.check()
    assert health.remote_identity == "redmine:http://redmine.test:project:it-services"


async def test_admin_key_is_healthy_without_roles() -> None:
    assert (await make_connector(FakeRedmine(), key="admin-key").check()).ok


async def test_reporter_key_lacks_private_note_permissions() -> None:
    health = await make_connector(FakeRedmine(), key="user-key").check()
    assert (health.reachable, health.authenticated, health.permissions_ok) == (True, True, False)
    assert "view_private_notes, set_notes_private" in health.detail


async def test_wrong_key() -> None:
    health = await make_connector(FakeRedmine(), key="0123456789abcdef").check()
    assert (health.reachable, health.authenticated) == (True, False)
    assert "401" in health.detail
    assert "0123456789abcdef" not in health.detail


async def test_unreachable() -> None:
    fake = FakeRedmine()
    fake.faults["/users/current.json"] = httpx.ConnectError("refused")
    health = await make_connector(fake).check()
    assert not health.reachable
    assert "cannot reach Redmine at http://redmine.test" in health.detail


async def test_missing_project() -> None:
    health = await make_connector(FakeRedmine(), project="nope").check()
    assert (health.authenticated, health.permissions_ok) == (True, False)
    assert "project 'nope' does not exist" in health.detail


async def test_project_not_visible() -> None:
    fake = FakeRedmine()
    fake.faults["/projects/it-services.json"] = empty(403)
    health = await make_connector(fake).check()
    assert (health.authenticated, health.permissions_ok) == (True, False)
    assert "403" in health.detail


async def test_unknown_roles_do_not_fail_the_check() -> None:
    fake = FakeRedmine()
    fake.faults["/roles/3.json"] = empty(404)
    health = await make_connector(fake).check()
    assert health.ok
    assert "could not read the key's roles" in health.detail
