"""`check()` (shared/peers/rt/README.md § Accounts and rights, § Authentication, § Errors)."""

from __future__ import annotations

import httpx

from tests.connectors.rt.fake_rt import FakeRT, make_connector


def with_ticket() -> FakeRT:
    fake = FakeRT()
    fake.add_ticket(1, "VPN", ["customer"])
    return fake


async def test_agent_token_is_healthy() -> None:
    health = await make_connector(with_ticket()).check()
    assert health.ok
    assert health.remote_identity == "rt:http://rt.test:queue:3"
    assert "5.0.3" in health.detail


async def test_identity_is_canonical_for_name_id_and_rest_url() -> None:
    by_id = await make_connector(with_ticket(), url="http://RT.test/REST/2.0", queue="3").check()
    assert by_id.remote_identity == "rt:http://rt.test:queue:3"


async def test_empty_queue_cannot_prove_write_rights() -> None:
    health = await make_connector(FakeRT()).check()
    assert health.ok
    assert "no visible ticket" in health.detail


async def test_customer_token_may_not_comment() -> None:
    health = await make_connector(with_ticket(), token="user-token").check()
    assert (health.authenticated, health.permissions_ok) == (True, False)
    assert "CommentOnTicket" in health.detail


async def test_wrong_token() -> None:
    health = await make_connector(FakeRT(), token="1-31-0123456789").check()
    assert (health.reachable, health.authenticated) == (True, False)
    assert "401" in health.detail
    assert "0123456789" not in health.detail


async def test_unreachable() -> None:
    fake = FakeRT()
    fake.faults["/REST/2.0/rt"] = httpx.ConnectError("refused")
    health = await make_connector(fake).check()
    assert not health.reachable
    assert "cannot reach RT at http://rt.test" in health.detail


async def test_unknown_queue() -> None:
    health = await make_connector(FakeRT(), queue="Nope").check()
    assert (health.authenticated, health.permissions_ok) == (True, False)
    assert "queue 'Nope' does not exist or" in health.detail
    assert health.remote_identity is None
