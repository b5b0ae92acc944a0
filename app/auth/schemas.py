from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from app.models import Role


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str | None = Field(default=None, min_length=8, max_length=200)


class UserCreated(UserOut):
    token: str = Field(description="API token; shown once, stored only as a hash")


class IdentityAuditOut(BaseModel):
    """One sign-in, provisioning, link, role change, refusal or sign-out."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    user_id: int | None
    provider: str | None
    action: str
    detail: dict[str, Any]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    expires_in_days: int | None = Field(default=90, ge=1, le=366, description="null: until revoked")


class TokenOut(BaseModel):
    """A token as its owner sees it later: never the secret, only what it is and when."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="the secret; shown once, stored only as a hash")
