"""Write-back: add a public comment or an internal note to a ticket through its connector.

The write is recorded (`ConnectorWrite`) *before* the remote call, under its idempotency
key, and completed with the external comment id after it: a sync that reads the comment
back in between still recognizes it as ours (the connectors report the key they put in
the comment), so it is never ingested as someone else's. A retry with the same key finds
the first write (the connectors look for their marker before writing again).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import httpx
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.errors import NotFound
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance, ConnectorWrite, Ticket
from app.sync import instances
from app.sync.ingest import PENDING_WRITE
from connectors.base import Capability, NotSupported, Visibility

NEEDS = {
    Visibility.PUBLIC: Capability.WRITE_PUBLIC_COMMENT,
    Visibility.INTERNAL: Capability.WRITE_INTERNAL_NOTE,
}


@dataclass(frozen=True)
class WriteBack:
    external_comment_id: str
    visibility: Visibility
    already_written: bool  # an earlier call with the same key had completed it


async def do_write_back(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    box: SecretBox,
    http: httpx.AsyncClient,
    ticket_id: int,
    body: str,
    idempotency_key: str,
    visibility: Visibility | Literal["public", "internal"] = Visibility.INTERNAL,
) -> WriteBack:
    """Write `body` to the ticket (internal unless told otherwise), exactly once per key.

    Raises `NotFound` for an unknown ticket, `NotSupported` when the connector cannot write
    that visibility, and the connector's errors as they are: `WriteNotApplied` when the
    system ignored the write, `TransientError`/`RateLimited` to retry later, `AuthError`.
    Each call is its own transactions; the remote call happens outside any of them.
    """
    wanted = Visibility(visibility)
    async with unit_of_work(sessionmaker) as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            raise NotFound("ticket not found")
        instance = await session.get(ConnectorInstance, ticket.connector_id)
        assert instance is not None  # tickets are deleted with their connector
        done = await _completed(session, idempotency_key)
        if done is not None:
            return WriteBack(done.external_comment_id, Visibility(done.visibility), True)
        cls = instances.connector_class(instance.kind)
        if NEEDS[wanted] not in cls.capabilities:
            raise NotSupported(f"the {instance.kind} connector cannot write {wanted.value} text")
        connector = instances.build(instance, box, http)
        external_id, connector_id = ticket.external_id, instance.id
    await _record_pending(sessionmaker, connector_id, ticket_id, idempotency_key, wanted)
    # On any failure the pending record stays: if the comment did land, the next sync
    # still knows it as ours, and a retry with the key completes the record.
    comment_id = await connector.add_comment(external_id, body, wanted, idempotency_key)
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(ConnectorWrite)
            .where(ConnectorWrite.idempotency_key == idempotency_key)
            .values(external_comment_id=comment_id, visibility=wanted.value)
            .execution_options(synchronize_session=False)
        )
    return WriteBack(comment_id, wanted, False)


async def _completed(session: AsyncSession, idempotency_key: str) -> ConnectorWrite | None:
    write = await session.scalar(
        select(ConnectorWrite).where(ConnectorWrite.idempotency_key == idempotency_key)
    )
    if write is None or write.external_comment_id.startswith(PENDING_WRITE):
        return None
    return write


async def _record_pending(
    sessionmaker: async_sessionmaker[AsyncSession],
    connector_id: int,
    ticket_id: int,
    idempotency_key: str,
    visibility: Visibility,
) -> None:
    try:
        async with unit_of_work(sessionmaker) as session:
            exists = await session.scalar(
                select(ConnectorWrite.id).where(ConnectorWrite.idempotency_key == idempotency_key)
            )
            if exists is None:
                session.add(
                    ConnectorWrite(
                        connector_id=connector_id,
                        ticket_id=ticket_id,
                        idempotency_key=idempotency_key,
                        # Unique per connector like real ids, and short enough for the column.
                        external_comment_id=PENDING_WRITE
                        + hashlib.sha256(idempotency_key.encode()).hexdigest()[:48],
                        visibility=visibility.value,
                    )
                )
    except IntegrityError:
        pass  # a concurrent call with the same key recorded it: the connector dedupes the write
