from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from app.auth import service
from app.auth.permissions import Admin, CurrentUser
from app.auth.schemas import IdentityAuditOut, UserCreate, UserCreated, UserOut
from app.deps import Session
from app.kit.ids import Id
from app.kit.pagination import After, Limit, Page
from app.models import IdentityAudit

router = APIRouter(prefix="/api/v1", tags=["identity"])


@router.get("/me")
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, session: Session, _admin: Admin) -> UserCreated:
    user, token = await service.do_create_user(
        session, email=body.email, name=body.name, role=body.role, password=body.password
    )
    return UserCreated(**UserOut.model_validate(user).model_dump(), token=token)


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
