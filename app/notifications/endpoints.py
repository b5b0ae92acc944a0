"""Preferences and the in-app inbox of the signed-in person."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Query, Request

from app.auth.permissions import CurrentUser
from app.deps import AppSettings, Session
from app.kit.ids import Id
from app.kit.pagination import Limit
from app.kit.secrets import SecretBox
from app.notifications import inbox, preferences
from app.notifications.schemas import (
    Explanation,
    Inbox,
    NotificationOut,
    PreferencesOut,
    PreferencesUpdate,
)

router = APIRouter(prefix="/api/v1/me", tags=["notifications"])


def _box(request: Request) -> SecretBox:
    return cast(SecretBox, request.app.state.secret_box)


Box = Annotated[SecretBox, Depends(_box)]


@router.get("/preferences")
async def get_preferences(session: Session, user: CurrentUser) -> PreferencesOut:
    return await preferences.get_preferences(session, user=user)


@router.put("/preferences")
async def put_preferences(
    body: PreferencesUpdate, session: Session, user: CurrentUser, box: Box, settings: AppSettings
) -> PreferencesOut:
    return await preferences.do_update_preferences(
        session,
        user=user,
        update=body,
        box=box,
        allow_private_destinations=settings.allow_private_destinations,
    )


@router.get("/notifications")
async def list_notifications(
    session: Session,
    user: CurrentUser,
    before: Annotated[Id | None, Query(description="items with an id below this")] = None,
    limit: Limit = 50,
    unread: bool = False,
) -> Inbox:
    return await inbox.inbox_for(session, user=user, before=before, limit=limit, unread_only=unread)


@router.post("/notifications/read")
async def mark_all_read(session: Session, user: CurrentUser) -> dict[str, int]:
    return {"marked": await inbox.do_mark_all_read(session, user=user)}


@router.post("/notifications/{item_id}/read")
async def mark_read(item_id: Id, session: Session, user: CurrentUser) -> NotificationOut:
    return await inbox.do_mark_read(session, user=user, item_id=item_id)


@router.get("/notifications/{item_id}/explain")
async def explain(item_id: Id, session: Session, user: CurrentUser) -> Explanation:
    return await inbox.explain(session, user=user, item_id=item_id)
