"""Demo status content: the demo desk's services, a resolved incident and a maintenance."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository as users_repo
from app.kit.clock import utcnow
from app.models import Incident, Service, StatusUpdate, User
from app.status.publishing import do_approve_update
from app.status.schemas import AffectedService, IncidentCreate, ServiceCreate, UpdateCreate
from app.status.service import do_add_update, do_create_incident, do_create_service

# (slug, name, group, visibility, description); slugs as in connectors/demo/catalog.py.
DEMO_SERVICES = (
    ("email", "E-mail", "Communication", "public", "Mailboxes, calendars and shared mailboxes"),
    ("accounts", "Accounts and sign-in", "Communication", "public", "Single sign-on"),
    ("vpn", "VPN", "Network", "public", "Remote access to the company network"),
    ("wifi", "Wi-Fi", "Network", "employees", "Office and guest wireless networks"),
    ("laptops", "Laptops", "Workplace", "employees", "Laptop provisioning and repairs"),
    ("printing", "Printing", "Workplace", "employees", "Office printers and scanning"),
    ("erp", "ERP", "Business applications", "employees", "Invoicing and purchasing"),
    ("backup", "Backups", "Infrastructure", "internal", "Nightly backups (IT only)"),
)


async def seed_status(session: AsyncSession, *, author_email: str, approver_email: str) -> None:
    """Create the demo services and a little history once (nothing if services exist)."""
    if await session.scalar(select(func.count()).select_from(Service)):
        return
    author = await users_repo.get_by_email(session, author_email)
    approver = await users_repo.get_by_email(session, approver_email)
    if author is None or approver is None:
        return
    for position, (slug, name, group, visibility, description) in enumerate(DEMO_SERVICES):
        data = ServiceCreate(
            slug=slug,
            name=name,
            group=group,
            visibility=visibility,
            description=description,
            position=position,
        )
        await do_create_service(session, data=data)
    await session.execute(update(Service).values(created_at=utcnow() - timedelta(days=120)))
    await _past_incident(session, author, approver)
    await _upcoming_maintenance(session, author, approver)


async def _past_incident(session: AsyncSession, author: User, approver: User) -> None:
    incident = await do_create_incident(
        session,
        data=IncidentCreate(
            title="Mail delivery delayed (queue on mx2 stuck)",
            public_title="E-mail delivery delayed",
            services=[AffectedService(service="email", impact="partial_outage")],
            update=UpdateCreate(
                body="Queue on mx2 stuck after the certificate renewal.",
                public_body="Outgoing e-mail is delayed. We are working on it.",
                audience="public",
            ),
        ),
        author=author,
    )
    first = (
        await session.execute(
            select(StatusUpdate.id).where(StatusUpdate.incident_id == incident.id)
        )
    ).scalar_one()
    await do_approve_update(session, update_id=first, approver=approver, reason=None)
    resolved = await do_add_update(
        session,
        incident_id=incident.id,
        data=UpdateCreate(
            status="resolved",
            body="Restarted the queue runner; backlog drained in 20 minutes.",
            public_body="E-mail delivery is back to normal. Delayed mails have been delivered.",
            audience="public",
        ),
        author=author,
    )
    await do_approve_update(session, update_id=resolved.id, approver=approver, reason=None)
    # Move it twelve days back so the history row shows it, within one day (09:00-11:00
    # UTC): "three hours before now" crossed midnight when the demo started after 01:00.
    start = (utcnow() - timedelta(days=12)).replace(hour=9, minute=0, second=0, microsecond=0)
    await session.execute(
        update(Incident)
        .where(Incident.id == incident.id)
        .values(started_at=start, resolved_at=start + timedelta(hours=2), created_at=start)
    )
    await session.execute(
        update(StatusUpdate)
        .where(StatusUpdate.id == first)
        .values(published_at=start + timedelta(minutes=10), created_at=start)
    )
    await session.execute(
        update(StatusUpdate)
        .where(StatusUpdate.id == resolved.id)
        .values(published_at=start + timedelta(hours=2), created_at=start + timedelta(hours=2))
    )


async def _upcoming_maintenance(session: AsyncSession, author: User, approver: User) -> None:
    start = (utcnow() + timedelta(days=3)).replace(hour=19, minute=0, second=0, microsecond=0)
    incident = await do_create_incident(
        session,
        data=IncidentCreate(
            kind="maintenance",
            title="VPN gateway firmware upgrade",
            services=[AffectedService(service="vpn")],
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=2),
            update=UpdateCreate(
                body="Firmware 9.4 on both gateways, one at a time.",
                public_body="The VPN may drop for a few minutes during the upgrade.",
                audience="public",
            ),
        ),
        author=author,
    )
    pending = (
        await session.execute(
            select(StatusUpdate.id).where(StatusUpdate.incident_id == incident.id)
        )
    ).scalar_one()
    await do_approve_update(session, update_id=pending, approver=approver, reason=None)
