"""Liveness, readiness and the Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.kit.errors import Unavailable
from app.metrics import prometheus

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    try:
        async with request.app.state.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        raise Unavailable("the database is not reachable", code="database_unavailable") from exc
    return {"status": "ready", "database": "ok"}


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    async with request.app.state.sessionmaker() as session:
        await prometheus.refresh(session)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
