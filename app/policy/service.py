"""The active policy and its versions, and explaining what it decided.

The shipped `default_policy.yaml` becomes version 1 the first time the service needs a
policy and none exists. A saved version is parsed once (per process) and cached by version
id and text; events are judged with the cached document, never re-parsed per event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import Conflict, InvalidInput
from app.models import ApprovalRequest, PolicyDecision, PolicyVersion
from app.policy import repository
from app.policy.engine.document import PolicyDocument, default_policy_text, parse_policy
from app.policy.engine.errors import PolicyError
from app.policy.operations.explain import explanation_lines

log = logging.getLogger(__name__)

_PARSED: dict[tuple[int, str], PolicyDocument] = {}
_PARSED_MAX = 32


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    """The policy in force: its stored version and the parsed document."""

    version_id: int
    version: int
    document: PolicyDocument

    @property
    def two_person_rule(self) -> bool:
        return self.document.approval.two_person_rule


def check_policy_text(text: str) -> PolicyDocument:
    """The parsed document, or a 422 whose details list every issue (rule, path, line)."""
    if not text.strip():
        issue = {"rule": None, "path": "", "message": "the policy is empty", "line": None}
        raise InvalidInput("the policy is empty", details=[issue], code="invalid_policy")
    try:
        return parse_policy(text)
    except PolicyError as exc:
        count = len(exc.errors)
        message = f"the policy was refused: {count} problem{'s' if count != 1 else ''}"
        details = [issue.as_dict() for issue in exc.errors]
        raise InvalidInput(message, details=details, code="invalid_policy") from None


def document_of(version: PolicyVersion) -> PolicyDocument:
    """The parsed document of a stored version, parsed once per process."""
    # Keyed by text as well as id: SQLite may hand out an id again after a rollback.
    key = (version.id, version.yaml_text)
    document = _PARSED.get(key)
    if document is None:
        try:
            document = parse_policy(version.yaml_text)
        except PolicyError:
            # Saved valid, refused now (a stricter release): fail closed, and say so loudly.
            log.exception("stored policy version %s no longer validates", version.version)
            document = PolicyDocument.model_construct(rules=[])
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = document
    return document


async def get_active_version(session: AsyncSession) -> PolicyVersion:
    """The active version; the shipped default is applied as version 1 on first use."""
    found = await repository.active_version(session)
    if found is not None:
        return found
    try:
        # A savepoint: a second process applying the default at the same moment makes
        # this insert fail on the unique version number, and then its row is the answer.
        async with session.begin_nested():
            if await repository.highest_version_number(session) == 0:
                default = PolicyVersion(version=1, yaml_text=default_policy_text(), is_active=True)
                session.add(default)
                await session.flush()
                log.info("applied the shipped default communications policy as version 1")
                return default
    except IntegrityError:
        pass
    found = await repository.active_version(session)
    if found is None:
        raise Conflict("no policy version is active", code="no_active_policy")
    return found


async def active_policy(session: AsyncSession) -> ActivePolicy:
    """The policy that judges events now."""
    version = await get_active_version(session)
    return ActivePolicy(version.id, version.version, document_of(version))


async def do_apply_policy(
    session: AsyncSession, *, yaml_text: str, created_by_user_id: int | None
) -> PolicyVersion:
    """Validate and save a new active version; the same text as the active one is a no-op."""
    document = check_policy_text(yaml_text)
    await get_active_version(session)
    current = await repository.lock_active_version(session)
    if current is not None and current.yaml_text == yaml_text:
        return current
    number = await repository.highest_version_number(session) + 1
    try:
        async with session.begin_nested():
            # Deactivate first: the partial unique index allows one active row at a time.
            await repository.deactivate_all(session)
            version = PolicyVersion(
                version=number,
                yaml_text=yaml_text,
                created_by_user_id=created_by_user_id,
                is_active=True,
            )
            session.add(version)
            await session.flush()
    except IntegrityError:
        raise Conflict(
            "another policy version was saved at the same time; reload and try again",
            code="policy_changed",
        ) from None
    _PARSED[(version.id, yaml_text)] = document
    return version


@dataclass(frozen=True, slots=True)
class Explanation:
    """A stored decision with its reasons in sentences, and its approval if it was held."""

    decision: PolicyDecision
    policy_version: int | None
    lines: list[str]
    approval: ApprovalRequest | None


async def explain_decision(session: AsyncSession, decision: PolicyDecision) -> Explanation:
    """Why this decision was made, in sentences a person can read."""
    versions = await repository.versions_by_ids(
        session, {decision.policy_version_id} if decision.policy_version_id else set()
    )
    version = versions.get(decision.policy_version_id or 0)
    number = version.version if version is not None else None
    approval = None
    # Held, or held once and since released or rejected by an approver.
    if decision.outcome == "hold" or any(
        r.get("kind") == "approval" for r in decision.reasons or []
    ):
        approval = await repository.approval_for_event(session, decision.event_key)
    lines = explanation_lines(decision, policy_version=number, approval=approval)
    return Explanation(decision, number, lines, approval)


async def explain(
    session: AsyncSession, *, event_key: str, recipient_key: str, channel: str
) -> Explanation | None:
    """What the policy decided for one event x recipient x channel, and why (None: nothing)."""
    decision = await repository.find_decision(
        session, event_key=event_key, recipient_key=recipient_key, channel=channel
    )
    return None if decision is None else await explain_decision(session, decision)
