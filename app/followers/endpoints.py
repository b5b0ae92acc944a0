"""Following tickets and IT services."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.auth.permissions import CurrentUser
from app.deps import Session
from app.followers import service
from app.followers.schemas import FollowersPage, MyFollows, ServiceFollowOut, TicketFollowOut
from app.kit.ids import Id
from app.kit.pagination import After, Limit

router = APIRouter(prefix="/api/v1", tags=["following"])

# A slug's shape is checked here; whether it names a service the caller may see, in service.
ServiceSlug = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]


@router.put("/tickets/{ticket_id}/follow")
async def follow_ticket(ticket_id: Id, session: Session, user: CurrentUser) -> TicketFollowOut:
    return await service.do_follow_ticket(session, user=user, ticket_id=ticket_id)


@router.delete("/tickets/{ticket_id}/follow", status_code=status.HTTP_204_NO_CONTENT)
async def unfollow_ticket(ticket_id: Id, session: Session, user: CurrentUser) -> Response:
    await service.do_unfollow_ticket(session, user=user, ticket_id=ticket_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# End users get names only: the other fields are left out of their answer, not sent empty.
@router.get("/tickets/{ticket_id}/followers", response_model_exclude_none=True)
async def list_followers(
    ticket_id: Id, session: Session, user: CurrentUser, after: After = None, limit: Limit = 100
) -> FollowersPage:
    return await service.followers_page(
        session, viewer=user, ticket_id=ticket_id, after=after, limit=limit
    )


@router.put("/services/{slug}/follow")
async def follow_service(
    slug: ServiceSlug, session: Session, user: CurrentUser
) -> ServiceFollowOut:
    return await service.do_follow_service(session, user=user, slug=slug)


@router.delete("/services/{slug}/follow", status_code=status.HTTP_204_NO_CONTENT)
async def unfollow_service(slug: ServiceSlug, session: Session, user: CurrentUser) -> Response:
    await service.do_unfollow_service(session, user=user, slug=slug)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me/follows")
async def my_follows(session: Session, user: CurrentUser) -> MyFollows:
    tickets, services = await service.my_follows(session, user=user)
    return MyFollows(tickets=tickets, services=services)
