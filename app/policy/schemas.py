"""API shapes of the policy: versions, decisions and their explanations, approvals."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PolicyVersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    is_active: bool
    created_by_user_id: int | None
    created_at: datetime


class PolicyVersionOut(PolicyVersionSummary):
    yaml: str = Field(validation_alias="yaml_text", description="the document as saved")


class PolicyIssueOut(BaseModel):
    """One problem in a refused policy (the 422's `details` entries have this shape)."""

    rule: str | None
    path: str
    line: int | None
    message: str


class ReasonOut(BaseModel):
    kind: str
    matched: bool
    sentence: str


class FindingOut(BaseModel):
    kind: str
    label: str
    start: int
    end: int


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_key: str
    event_type: str
    recipient_key: str
    recipient_user_id: int | None
    channel: str
    outcome: Literal["send", "delay", "digest", "hold", "suppress"]
    rule_id: str | None
    audience: str | None
    body_variant: Literal["internal", "public"]
    redaction_profile: str
    deliver_at: datetime | None
    reasons: list[ReasonOut]
    redactions: list[FindingOut]
    policy_version_id: int | None
    created_at: datetime
    explanation: list[str] = Field(default_factory=list, description="the reasons as sentences")


class ApprovalAuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    # `release`: what an approval let out, written by the service (user_id null).
    action: Literal["approve", "reject", "override", "release"]
    user_id: int | None
    reason: str | None
    created_at: datetime


class ApprovalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_key: str
    event_type: str
    subject: str
    requested_by_user_id: int | None
    status: Literal["pending", "approved", "rejected"]
    decided_by_user_id: int | None
    reason: str | None
    decided_at: datetime | None
    findings: list[dict[str, Any]]
    rule_ids: list[str]
    created_at: datetime
    audit: list[ApprovalAuditOut]


class ExplanationOut(BaseModel):
    decision: DecisionOut
    policy_version: int | None
    explanation: list[str]
    approval: ApprovalOut | None


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        default=None, max_length=2000, description="required when the scan found something"
    )


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, description="why it must not go out")


class ApproverOut(BaseModel):
    user_id: int
    email: str
    name: str
    granted_by_user_id: int | None
    created_at: datetime


class SimulationSide(BaseModel):
    outcome: str
    rule_id: str | None


class SimulationEntry(BaseModel):
    event_key: str
    event_type: str
    recipient_key: str
    recipient_user_id: int | None
    channel: str
    before: SimulationSide | None
    after: SimulationSide | None


class SimulationSummary(BaseModel):
    added: int
    removed: int
    changed: int
    unchanged: int


class SimulationOut(BaseModel):
    since: datetime
    until: datetime
    active_version: int
    events: int
    truncated: bool
    summary: SimulationSummary
    added: list[SimulationEntry]
    removed: list[SimulationEntry]
    changed: list[SimulationEntry]
