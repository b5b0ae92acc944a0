"""From a verified ID token to a Socialdesk user: match, provision, map roles, audit.

A provider account is found by its subject first. A new subject is linked to an existing
user only by a verified e-mail address (people mirrored from a ticketing system included),
so one person never becomes two, and an unverified address can never take over an account.
The provider is the source of truth for roles: they are recomputed at every sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.auth.sso.oidc import SsoError
from app.config import SamlProvider, SsoProvider
from app.kit.clock import utcnow
from app.models import IdentityAudit, Role, User, UserIdentity

AnyProvider = SsoProvider | SamlProvider  # what provisioning needs is common to both
_RANK = {Role.END_USER: 0, Role.AGENT: 1, Role.ADMIN: 2}
MAX_GROUPS = 200  # a person in thousands of groups is stored as the first of them


@dataclass(frozen=True)
class ProviderAccount:
    """What Socialdesk reads from an ID token (and nothing else)."""

    subject: str
    email: str | None
    email_verified: bool
    name: str
    groups: tuple[str, ...]


def account_from_claims(provider: SsoProvider, claims: dict[str, Any]) -> ProviderAccount:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SsoError("The sign-in could not be verified. Start again.", detail="bad sub")
    email = claims.get("email")
    email = email.strip().lower() if isinstance(email, str) and "@" in email else None
    verified = claims.get("email_verified") in (True, "true", "1", 1)
    name = claims.get("name") or " ".join(
        str(claims[k]) for k in ("given_name", "family_name") if claims.get(k)
    )
    return ProviderAccount(
        subject=subject,
        email=email,
        email_verified=verified,
        name=str(name or email or subject).strip()[:200],
        groups=groups_from(claims.get(provider.groups_claim)),
    )


def groups_from(value: object) -> tuple[str, ...]:
    # Providers send a JSON list, or one string with the groups space- or comma-separated.
    if isinstance(value, str):
        items: list[object] = list(value.replace(",", " ").split())
    elif isinstance(value, list):
        items = list(value)
    else:
        items = []
    return tuple(sorted({str(g) for g in items if str(g)}))[:MAX_GROUPS]


def role_for(provider: AnyProvider, groups: tuple[str, ...]) -> Role:
    """The highest role any of the person's groups maps to; the default role otherwise."""
    mapped = [Role(provider.roles[g]) for g in groups if g in provider.roles]
    return max(mapped, key=_RANK.__getitem__, default=Role(provider.default_role))


def audit(
    session: AsyncSession,
    action: str,
    *,
    user_id: int | None,
    provider: str | None,
    **detail: Any,
) -> None:
    session.add(IdentityAudit(action=action, user_id=user_id, provider=provider, detail=detail))


async def do_sign_in(
    session: AsyncSession, provider: AnyProvider, account: ProviderAccount
) -> User:
    """The user this provider account signs in as, provisioned or updated as needed."""
    identity = (
        await session.execute(
            select(UserIdentity).where(
                UserIdentity.provider == provider.name, UserIdentity.subject == account.subject
            )
        )
    ).scalar_one_or_none()
    if identity is not None:
        user = await session.get(User, identity.user_id)
        assert user is not None  # the foreign key cascades: an identity always has its user
    else:
        user, identity = await _first_sign_in(session, provider, account)
    if not user.is_active:
        raise SsoError(
            "This account is disabled. Ask your service desk.", detail="inactive", user_id=user.id
        )
    role = role_for(provider, account.groups)
    if user.role is not role:
        audit(
            session,
            "role_changed",
            user_id=user.id,
            provider=provider.name,
            before=user.role.value,
            after=role.value,
            groups=list(account.groups),
        )
        user.role = role
    if account.name and account.name != user.name:
        user.name = account.name
    identity.groups = {"groups": list(account.groups)}
    identity.last_sign_in_at = utcnow()
    audit(session, "signed_in", user_id=user.id, provider=provider.name, role=role.value)
    await session.flush()
    return user


async def _first_sign_in(
    session: AsyncSession, provider: AnyProvider, account: ProviderAccount
) -> tuple[User, UserIdentity]:
    if account.email is None or not (account.email_verified or provider.trust_unverified_email):
        raise SsoError(
            f"Your {provider.label} account has no verified e-mail address, which "
            "Socialdesk needs to know who you are. Ask your identity team.",
            detail=f"no verified e-mail for subject {account.subject}",
        )
    try:
        async with session.begin_nested():
            user = await repository.get_by_email(session, account.email)
            if user is None:
                user = User(
                    email=account.email, name=account.name, role=role_for(provider, account.groups)
                )
                session.add(user)
                await session.flush()
                audit(
                    session,
                    "provisioned",
                    user_id=user.id,
                    provider=provider.name,
                    email=account.email,
                    role=user.role.value,
                )
            else:
                audit(
                    session, "linked", user_id=user.id, provider=provider.name, email=account.email
                )
            identity = UserIdentity(
                user_id=user.id, provider=provider.name, subject=account.subject
            )
            session.add(identity)
            await session.flush()
    except IntegrityError:
        # The same person signing in twice at once: the other sign-in created them.
        raise SsoError("Another sign-in for this account was in progress. Sign in again.") from None
    return user, identity
