from __future__ import annotations

from fastapi import APIRouter, status

from app.auth import service
from app.auth.permissions import Admin, CurrentUser
from app.auth.schemas import UserCreate, UserCreated, UserOut
from app.deps import Session

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
