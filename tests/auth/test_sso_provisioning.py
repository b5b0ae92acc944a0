"""Who a verified ID token signs in as: matching, provisioning, roles from groups, audit.

These run on the claims alone (the provider round trip is in tests/auth/test_sso_oidc.py,
against a real LemonLDAP::NG), so each rule is shown on its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.sso.oidc import SsoError
from app.auth.sso.provisioning import account_from_claims, do_sign_in, role_for
from app.config import SsoProvider
from app.models import IdentityAudit, Role, User, UserIdentity
from tests.factories import create_user

PROVIDER = SsoProvider(
    name="corp",
    label="Corp ID",
    discovery_url="http://idp.example/.well-known/openid-configuration",
    client_id="socialdesk",
    client_secret=SecretStr("s3cret"),
    roles={"it-admins": "admin", "it-staff": "agent"},
)


def _claims(sub: str = "u-1", **extra: Any) -> dict[str, Any]:
    return {"sub": sub, "email": "Kim.Lee@Example.org", "email_verified": True,
            "name": "Kim Lee", "groups": [], **extra}  # fmt: skip


async def _sign_in(session: AsyncSession, **claims: Any) -> User:
    return await do_sign_in(session, PROVIDER, account_from_claims(PROVIDER, _claims(**claims)))


async def _actions(session: AsyncSession, user_id: int | None = None) -> list[str]:
    stmt = select(IdentityAudit.action).order_by(IdentityAudit.id)
    if user_id is not None:
        stmt = stmt.where(IdentityAudit.user_id == user_id)
    return list((await session.execute(stmt)).scalars())


async def test_the_first_sign_in_creates_the_person_from_the_claims(session: AsyncSession) -> None:
    user = await _sign_in(session, groups=["it-staff"])
    assert (user.email, user.name, user.role) == ("kim.lee@example.org", "Kim Lee", Role.AGENT)
    assert user.password_hash is None
    assert await _actions(session, user.id) == ["provisioned", "signed_in"]
    again = await _sign_in(session, groups=["it-staff"])
    assert again.id == user.id
    count = await session.scalar(select(func.count()).select_from(UserIdentity))
    assert count == 1


async def test_a_requester_mirrored_from_the_desk_is_matched_by_verified_email(
    session: AsyncSession,
) -> None:
    mirrored, _ = await create_user(session, email="kim.lee@example.org", name="LEE, Kim")
    user = await _sign_in(session)
    assert user.id == mirrored.id  # never a second account for the same person
    assert user.name == "Kim Lee"
    assert await _actions(session, user.id) == ["linked", "signed_in"]


async def test_an_unverified_email_never_takes_over_an_account(session: AsyncSession) -> None:
    admin, _ = await create_user(session, email="kim.lee@example.org", role=Role.ADMIN)
    with pytest.raises(SsoError, match="no verified e-mail"):
        await _sign_in(session, email_verified=False)
    assert await session.scalar(select(func.count()).select_from(UserIdentity)) == 0
    await session.refresh(admin)
    assert admin.role is Role.ADMIN
    assert await _actions(session) == []  # the flow records the refusal (test_sso_oidc)


async def test_a_provider_trusted_with_its_addresses_may_skip_email_verified(
    session: AsyncSession,
) -> None:
    trusting = PROVIDER.model_copy(update={"trust_unverified_email": True})
    account = account_from_claims(trusting, _claims(email_verified=None))
    user = await do_sign_in(session, trusting, account)
    assert user.email == "kim.lee@example.org"


async def test_roles_follow_the_provider_groups_at_every_sign_in(session: AsyncSession) -> None:
    user = await _sign_in(session, groups=["everyone", "it-staff"])
    assert user.role is Role.AGENT
    promoted = await _sign_in(session, groups="it-staff it-admins")  # a string form too
    assert promoted.role is Role.ADMIN
    removed = await _sign_in(session, groups=["everyone"])
    assert removed.role is Role.END_USER  # out of the staff groups: no staff access
    changes = (
        await session.execute(
            select(IdentityAudit.detail)
            .where(IdentityAudit.action == "role_changed")
            .order_by(IdentityAudit.id)
        )
    ).scalars()
    assert [(d["before"], d["after"]) for d in changes] == [
        ("agent", "admin"),
        ("admin", "end_user"),
    ]


async def test_a_disabled_person_cannot_sign_in(session: AsyncSession) -> None:
    user = await _sign_in(session)
    user.is_active = False
    with pytest.raises(SsoError, match="disabled") as refused:
        await _sign_in(session)
    assert refused.value.user_id == user.id


async def test_the_same_subject_at_another_provider_is_another_account(
    session: AsyncSession,
) -> None:
    other = PROVIDER.model_copy(update={"name": "partner"})
    user = await _sign_in(session, email="a@example.org")
    stranger = await do_sign_in(
        session, other, account_from_claims(other, _claims(email="b@example.org"))
    )
    assert stranger.id != user.id


def test_the_highest_mapped_role_wins_and_unknown_groups_are_ignored() -> None:
    assert role_for(PROVIDER, ("it-staff", "it-admins")) is Role.ADMIN
    assert role_for(PROVIDER, ("it-admins-old",)) is Role.END_USER
    with pytest.raises(SsoError):
        account_from_claims(PROVIDER, {"email": "x@example.org"})  # no subject
