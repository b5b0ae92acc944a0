from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from app.auth import repository, service
from app.auth.permissions import Admin, CurrentUser
from app.auth.schemas import (
    IdentityAuditOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserCreated,
    UserOut,
)
from app.auth.sso.provisioning import audit
from app.auth.ticket_links import do_revoke_links
from app.deps import Session
from app.kit.clock import utcnow
from app.kit.errors import NotFound
from app.kit.ids import Id
from app.kit.pagination import After, Limit, Page
from app.models import IdentityAudit, User

router = APIRouter(prefix="/api/v1", tags=["identity"])


@router.get("/me")
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.get("/me/tokens")
async def my_tokens(session: Session, user: CurrentUser) -> Page[TokenOut]:
    """The caller's API tokens, newest first, without their secrets."""
    rows = await repository.tokens_of(session, user.id)
    return Page(items=[TokenOut.model_validate(r) for r in rows])


@router.post("/me/tokens", status_code=status.HTTP_201_CREATED)
async def create_my_token(body: TokenCreate, session: Session, user: CurrentUser) -> TokenCreated:
    row, secret = await service.do_create_personal_token(
        session, user=user, name=body.name, expires_in_days=body.expires_in_days
    )
    return TokenCreated(**TokenOut.model_validate(row).model_dump(), token=secret)


@router.delete("/me/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_my_token(token_id: Id, session: Session, user: CurrentUser) -> None:
    await service.do_revoke_token(session, user=user, token_id=token_id)


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, session: Session, _admin: Admin) -> UserCreated:
    user, token = await service.do_create_user(
        session, email=body.email, name=body.name, role=body.role, password=body.password
    )
    return UserCreated(**UserOut.model_validate(user).model_dump(), token=token)


@router.post("/me/ticket-links/revoke", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_my_ticket_links(session: Session, user: CurrentUser) -> None:
    """Every ticket link mailed to you so far opens nothing (later mails work again)."""
    await do_revoke_links(session, user_id=user.id, ticket_id=None, now=utcnow())
    audit(session, "links_revoked", user_id=user.id, provider=None, by=user.id)


@router.post("/users/{user_id}/ticket-links/revoke", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_ticket_links(
    user_id: Id,
    session: Session,
    admin: Admin,
    ticket_id: Annotated[Id | None, Query(description="only this ticket's links")] = None,
) -> None:
    """A person's ticket links (all, or one ticket's) open nothing: a lost or forwarded mail."""
    if await session.get(User, user_id) is None:
        raise NotFound("no such user", code="user_not_found")
    await do_revoke_links(session, user_id=user_id, ticket_id=ticket_id, now=utcnow())
    audit(session, "links_revoked", user_id=user_id, provider=None, by=admin.id, ticket=ticket_id)


@router.get("/identity/audit")
async def identity_audit(
    session: Session,
    _admin: Admin,
    user_id: Annotated[Id | None, Query(description="only this person's entries")] = None,
    after: After = None,
    limit: Limit = 50,
) -> Page[IdentityAuditOut]:
    """Sign-ins, provisioning, role changes and refusals, oldest first (`after`: an id)."""
    stmt = select(IdentityAudit).order_by(IdentityAudit.id).limit(limit)
    if user_id is not None:
        stmt = stmt.where(IdentityAudit.user_id == user_id)
    if after is not None:
        stmt = stmt.where(IdentityAudit.id > after)
    rows = [IdentityAuditOut.model_validate(r) for r in (await session.execute(stmt)).scalars()]
    return Page(items=rows, next_after=rows[-1].id if len(rows) == limit else None)
