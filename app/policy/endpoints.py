"""HTTP for the policy (admin): versions, simulate, decisions and their explanations.

`PUT /api/v1/policy` and `POST /api/v1/policy/simulate` take the YAML document itself as
the request body (`Content-Type: text/yaml`; `application/yaml` and `text/plain` work too),
so a file goes up unchanged, comments included: `curl -X PUT --data-binary @policy.yaml`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.auth.permissions import Admin
from app.deps import AppSettings, Session
from app.kit.clock import as_utc, utcnow
from app.kit.errors import AppError, InvalidInput, NotFound
from app.kit.ids import Id, Number
from app.kit.pagination import After, AfterNumber, Limit, Page
from app.models import PolicyDecision, PolicyVersion
from app.policy import repository, service
from app.policy.approval_endpoints import approval_out
from app.policy.approval_endpoints import router as approvals_router
from app.policy.operations.explain import explanation_lines
from app.policy.operations.simulate import MAX_EVENTS, simulate
from app.policy.schemas import (
    DecisionOut,
    ExplanationOut,
    PolicyVersionOut,
    PolicyVersionSummary,
    SimulationOut,
)

router = APIRouter(prefix="/api/v1", tags=["policy"])
router.include_router(approvals_router)

YAML_TYPES = frozenset({"text/yaml", "application/yaml", "application/x-yaml", "text/plain"})
MAX_POLICY_BYTES = 256 * 1024
_YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "string"}} for t in sorted(YAML_TYPES)},
    }
}


class UnsupportedMediaType(AppError):
    status_code, code = 415, "unsupported_media_type"


class PayloadTooLarge(AppError):
    status_code, code = 413, "payload_too_large"


async def _yaml_body(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in YAML_TYPES:
        raise UnsupportedMediaType(
            f"send the policy as YAML text (Content-Type: text/yaml), not {media or 'nothing'}"
        )
    body = await request.body()
    if len(body) > MAX_POLICY_BYTES:
        raise PayloadTooLarge(f"a policy is at most {MAX_POLICY_BYTES // 1024} KiB")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        detail = [{"rule": None, "path": "", "line": None, "message": "not UTF-8 text"}]
        raise InvalidInput("the policy is not UTF-8 text", details=detail) from None


def _version_out(version: PolicyVersion) -> PolicyVersionOut:
    return PolicyVersionOut.model_validate(version)


@router.get("/policy")
async def get_policy(session: Session, _admin: Admin) -> PolicyVersionOut:
    """The active policy version (the shipped default until an admin saves another)."""
    return _version_out(await service.get_active_version(session))


@router.put("/policy", openapi_extra=_YAML_BODY)
async def put_policy(request: Request, session: Session, admin: Admin) -> PolicyVersionOut:
    """Validate and save a new active version; 422 lists every issue with rule, path, line."""
    text = await _yaml_body(request)
    version = await service.do_apply_policy(session, yaml_text=text, created_by_user_id=admin.id)
    return _version_out(version)


@router.get("/policy/versions")
async def list_versions(
    session: Session, _admin: Admin, after: AfterNumber = None, limit: Limit = 50
) -> Page[PolicyVersionSummary]:
    """Every saved version, newest first (`after`: a version number)."""
    await service.get_active_version(session)
    versions = await repository.list_versions(session, after=after, limit=limit)
    items = [PolicyVersionSummary.model_validate(v) for v in versions]
    return Page(items=items, next_after=items[-1].version if len(items) == limit else None)


@router.get("/policy/versions/{number}")
async def get_version(number: Number, session: Session, _admin: Admin) -> PolicyVersionOut:
    version = await repository.version_by_number(session, number)
    if version is None:
        raise NotFound("policy version not found")
    return _version_out(version)


@router.post("/policy/simulate", openapi_extra=_YAML_BODY)
async def simulate_policy(
    request: Request,
    session: Session,
    _admin: Admin,
    since: Annotated[datetime | None, Query(description="default: 7 days before until")] = None,
    until: Annotated[datetime | None, Query(description="default: now")] = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="entries per list")] = 500,
) -> SimulationOut:
    """Replay stored events against the candidate (body) and the active policy; a diff."""
    candidate = service.check_policy_text(await _yaml_body(request))
    end = as_utc(until) if until else utcnow()
    start = as_utc(since) if since else end - timedelta(days=7)
    if start >= end:
        detail = [{"field": "since", "message": "since must be before until"}]
        raise InvalidInput("since must be before until", details=detail)
    diff = await simulate(session, candidate, since=start, until=end, max_events=MAX_EVENTS)
    return SimulationOut.model_validate(diff.as_dict(max_entries=limit))


async def _decisions_out(session: Session, decisions: list[PolicyDecision]) -> list[DecisionOut]:
    ids = {d.policy_version_id for d in decisions if d.policy_version_id is not None}
    versions = await repository.versions_by_ids(session, ids)
    out = []
    for decision in decisions:
        version = versions.get(decision.policy_version_id or 0)
        lines = explanation_lines(decision, policy_version=version.version if version else None)
        out.append(DecisionOut.model_validate(decision).model_copy(update={"explanation": lines}))
    return out


@router.get("/decisions")
async def list_decisions(
    session: Session,
    _admin: Admin,
    event_id: Annotated[str | None, Query(description="event key, e.g. ticket_event:12")] = None,
    recipient_id: Annotated[Id | None, Query(description="the recipient's user id")] = None,
    after: After = None,
    limit: Limit = 50,
) -> Page[DecisionOut]:
    """Stored decisions, oldest first, each with its reasons as sentences."""
    found = await repository.list_decisions(
        session, event_key=event_id, recipient_user_id=recipient_id, after=after, limit=limit
    )
    items = await _decisions_out(session, list(found))
    return Page(items=items, next_after=items[-1].id if len(items) == limit else None)


@router.get("/decisions/{decision_id}/explain")
async def explain_decision(
    decision_id: Id, session: Session, _admin: Admin, settings: AppSettings
) -> ExplanationOut:
    """Why the policy decided this: the rule, every condition checked, redaction, approval."""
    decision = await repository.get_decision(session, decision_id)
    if decision is None:
        days = settings.decision_retention_days
        raise NotFound(
            f"decision not found: decisions are kept {days} days "
            "(SOCIALDESK_DECISION_RETENTION_DAYS), then deleted unless pending work needs them"
        )
    explained = await service.explain_decision(session, decision)
    (out,) = await _decisions_out(session, [decision])
    approval = None
    if explained.approval is not None:
        full = await repository.get_approval_with_audit(session, explained.approval.id)
        approval = approval_out(full) if full is not None else None
    return ExplanationOut(
        decision=out,
        policy_version=explained.policy_version,
        explanation=explained.lines,
        approval=approval,
    )
