"""Publishing rules: what an update's audience may read, redaction, the two-person approval.

- `internal` updates are published at once, to staff only (no text leaves the service).
- `employees` updates are scanned with the policy's employees profile (`standard` by
  default); without findings they publish at once, with findings they are HELD for an
  approver. Employees are colleagues, so no second person is needed for clean text.
- `public` updates are always drafts until a second person approves them; the text the
  public would read (public title and public body, or title and body) is scanned with
  `strict`, and any finding HOLDS the draft with the findings listed (kind and span, never
  the matched text). Nothing is silently redacted.
- Approvers are agents and admins, never the update's author (two-person rule). Approving
  a held update is an override: it needs a reason and may publish the redacted text.
  Rejecting needs a reason. Every decision is written to `status_audit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models import Incident, Service, StatusAudit, StatusUpdate, User
from app.policy.guard.redaction import ProfileName, redact
from app.policy.service import active_policy
from app.status import repository
from app.status.events import on_status_update_published
from app.status.lifecycle import Audience, wider_than, widest
from app.status.public import revision

_DECIDABLE = ("pending", "held")


@dataclass(frozen=True, slots=True)
class Screening:
    """Redaction of what an audience would read: findings and the redacted texts."""

    findings: list[dict[str, Any]]
    title: str
    body: str


def audience_text(update: StatusUpdate) -> str:
    """The text employees or the public read: the public body, or the body without one."""
    return update.public_body if update.public_body is not None else update.body


def audience_title(incident: Incident) -> str:
    """The title employees and the public read."""
    return incident.public_title or incident.title


async def screen(session: AsyncSession, *, audience: Audience, title: str, body: str) -> Screening:
    """Run the policy's redaction for this audience over the title and body it would read."""
    if audience == "internal":
        return Screening([], title, body)
    redaction = (await active_policy(session)).document.redaction
    # The public always gets `strict`, whatever a policy says (invariant 3).
    profile: ProfileName = "strict" if audience == "public" else redaction.profile_for("employees")
    findings: list[dict[str, Any]] = []
    texts = {}
    for field, text in (("title", title), ("body", body)):
        result = redact(text, profile, redaction.internal_domains, redaction.custom_patterns)
        texts[field] = result.text
        findings += [
            {"field": field, "kind": f.kind, "start": f.start, "end": f.end, "label": f.label}
            for f in result.findings
        ]
    return Screening(findings, texts["title"], texts["body"])


def check_audience(audience: Audience, services: Sequence[Service]) -> None:
    """An update may not address people who cannot see any of the incident's services."""
    visible = widest(s.visibility for s in services)  # type: ignore[misc]
    if wider_than(audience, visible):
        raise InvalidInput(
            f"no service of this incident is visible to {audience}; "
            f"the widest audience it allows is {visible}",
            code="audience_too_wide",
            details={"audience": audience, "widest_allowed": visible},
        )


def _audit(
    session: AsyncSession,
    action: str,
    update: StatusUpdate,
    user: User | None,
    reason: str | None,
    **details: Any,
) -> None:
    session.add(
        StatusAudit(
            action=action,
            update_id=update.id,
            user_id=user.id if user else None,
            reason=reason,
            details=details,
        )
    )


async def _publish(
    session: AsyncSession, update: StatusUpdate, text: str | None, incident: Incident
) -> None:
    update.state = "published"
    update.published_body = text
    update.published_at = utcnow()
    incident.updated_at = update.published_at
    await session.flush()
    await revision.do_bump(session)
    await on_status_update_published(session, update)


async def do_submit_update(
    session: AsyncSession, *, incident: Incident, update: StatusUpdate, author: User
) -> StatusUpdate:
    """Store a new update and publish it, hold it, or leave it for an approver."""
    session.add(update)
    await session.flush()
    if update.audience == "internal":
        await _publish(session, update, None, incident)
        return update
    screening = await screen(
        session,
        audience=update.audience,  # type: ignore[arg-type]
        title=audience_title(incident),
        body=audience_text(update),
    )
    update.findings = screening.findings
    if screening.findings:
        update.state = "held"
        kinds = sorted({f["kind"] for f in screening.findings})
        _audit(session, "held", update, author, None, finding_kinds=kinds)
    elif update.audience == "employees":
        await _publish(session, update, audience_text(update), incident)
        return update
    else:
        update.state = "pending"
    await session.flush()
    await revision.do_bump(session)
    return update


async def _check_decidable(session: AsyncSession, update_id: int) -> tuple[StatusUpdate, Incident]:
    update = await repository.get_update(session, update_id, lock=True)
    if update is None:
        raise NotFound("status update not found")
    if update.state not in _DECIDABLE:
        raise Conflict(
            f"this update is already {update.state}",
            code="already_decided",
            details={"state": update.state},
        )
    incident = await repository.get_incident(session, update.incident_id, lock=True)
    if incident is None:  # pragma: no cover - the foreign key cascades
        raise NotFound("status update not found")
    return update, incident


async def do_approve_update(
    session: AsyncSession,
    *,
    update_id: int,
    approver: User,
    reason: str | None,
    publish_redacted: bool = False,
) -> StatusUpdate:
    """Publish a pending or held update under the two-person rule."""
    update, incident = await _check_decidable(session, update_id)
    if update.author_user_id == approver.id:
        raise Forbidden(
            "the author of an update cannot approve it (two-person rule)",
            code="two_person_rule",
        )
    services = [s for _, s in (await repository.impacts_for(session, [incident.id]))[incident.id]]
    check_audience(update.audience, services)  # type: ignore[arg-type]
    # Scan again: the policy (internal domains, patterns) may have changed since submission.
    screening = await screen(
        session,
        audience=update.audience,  # type: ignore[arg-type]
        title=audience_title(incident),
        body=audience_text(update),
    )
    update.findings = screening.findings
    if screening.findings and reason is None:
        raise InvalidInput(
            "this update has redaction findings: approving it is an override and needs a reason",
            code="reason_required",
            details={"findings": screening.findings},
        )
    text = audience_text(update)
    if publish_redacted:
        text = screening.body
        if screening.title != audience_title(incident):
            incident.public_title = screening.title
    update.decided_by_user_id = approver.id
    update.decided_at = utcnow()
    update.decision_reason = reason
    action = "approved_override" if screening.findings else "approved"
    kinds = sorted({f["kind"] for f in screening.findings})
    _audit(
        session, action, update, approver, reason,
        finding_kinds=kinds, publish_redacted=publish_redacted,
    )  # fmt: skip
    await _publish(session, update, text, incident)
    return update


async def do_reject_update(
    session: AsyncSession, *, update_id: int, user: User, reason: str
) -> StatusUpdate:
    """Keep a pending or held update off every page and feed, with the reason (audited).

    The author may reject (withdraw) their own draft: only publishing needs a second person.
    """
    update, _incident = await _check_decidable(session, update_id)
    update.state = "rejected"
    update.decided_by_user_id = user.id
    update.decided_at = utcnow()
    update.decision_reason = reason
    _audit(session, "rejected", update, user, reason)
    await session.flush()
    await revision.do_bump(session)
    return update
