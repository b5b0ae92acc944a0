"""FastAPI dependencies shared by every domain, as Annotated aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import discard_after_commit, run_after_commit
from app.kit.attempts import AttemptLimits
from app.realtime.bus import Bus as BusType


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit on success, roll back on error, then publish."""
    sessionmaker = cast(async_sessionmaker[AsyncSession], request.app.state.sessionmaker)
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            discard_after_commit(session)
            raise
        await run_after_commit(session)


def get_bus(request: Request) -> BusType:
    return cast(BusType, request.app.state.bus)


def get_attempts(request: Request) -> AttemptLimits:
    return cast(AttemptLimits, request.app.state.runtime.attempts)


def client_address(request: Request) -> str:
    """The client's IP address (uvicorn applies the proxy's X-Forwarded-For)."""
    return request.client.host if request.client is not None else "unknown"


def get_app_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


# scope="function": commit before the response is sent. The default ("request") would
# answer first and commit afterwards, acknowledging writes that are not yet stored.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
Bus = Annotated[BusType, Depends(get_bus)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
Attempts = Annotated[AttemptLimits, Depends(get_attempts)]
