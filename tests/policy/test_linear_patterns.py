"""Admins' regexes run in linear time: refused on save if they cannot, never slow on send.

Each text below is one that Python's `re` needs exponential time for with the pattern
beside it (`(a+)+$` on "aaa…!" backtracks through every split of the run); the bounds are
loose enough for a busy machine and far below what backtracking would take.
"""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.patterns import MAX_PATTERN_LENGTH, PatternError, compile_pattern
from app.models import Role
from app.policy.engine.conditions import evaluate_condition
from app.policy.engine.document import Condition, CustomPattern
from app.policy.guard.redaction import redact
from tests.factories import auth, create_user
from tests.policy.support import policy_yaml

EVIL = "(a+)+$"
RUN = "a" * 100_000 + "!"  # `re.search(EVIL, RUN)` would not return in our lifetime
YAML = {"Content-Type": "text/yaml"}


def _within(seconds: float, started: float) -> None:
    assert time.perf_counter() - started < seconds


def test_a_catastrophic_redaction_pattern_redacts_a_long_message_quickly() -> None:
    pattern = CustomPattern(name="runs", pattern=EVIL, label="[run]")
    started = time.perf_counter()
    result = redact(RUN, "standard", (), [pattern])
    _within(2.0, started)
    assert result.text == RUN  # no run of a's ends the text, so nothing is hidden
    ending = redact("x" + "a" * 50_000, "standard", (), [pattern])
    assert ending.text == "x[run]"


def test_a_catastrophic_matches_condition_decides_quickly() -> None:
    condition = Condition.model_validate({"field": "event.body", "op": "matches", "value": EVIL})
    started = time.perf_counter()
    held, _ = evaluate_condition(condition, {"event.body": RUN})
    _within(2.0, started)
    assert held is False
    assert evaluate_condition(condition, {"event.body": "aaaa"})[0] is True


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(?<=password )\S+", "lookaround"),
        (r"(?=secret)\w+", "lookaround"),
        (r"(\w+) \1", "backreferences"),
    ],
)
def test_what_cannot_run_in_linear_time_is_refused_with_the_reason(
    pattern: str, reason: str
) -> None:
    with pytest.raises(PatternError, match=reason):
        compile_pattern(pattern)


def test_a_pattern_over_the_length_limit_is_refused() -> None:
    with pytest.raises(PatternError, match="longer than"):
        compile_pattern("a" * (MAX_PATTERN_LENGTH + 1))


async def test_saving_a_lookbehind_pattern_is_a_422_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, token = await create_user(session, role=Role.ADMIN)
    admin = auth(token)
    document = policy_yaml(
        """
        - id: resolved-mail
          on: [ticket.resolved]
          to: [requester]
          via: [email]
          when: {field: event.body, op: matches, value: '(?<=VPN )down'}
        """,
        extra="""
        redaction:
          custom_patterns: [{name: tag, pattern: '(\\w+)-\\1', label: '[tag]'}]
        """,
    )
    response = await client.put("/api/v1/policy", content=document, headers=admin | YAML)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_policy"
    by_path = {issue["path"]: issue["message"] for issue in error["details"]}
    assert "(?<=" in by_path["when"]
    assert "lookaround" in by_path["when"]
    assert "backreferences" in by_path["redaction.custom_patterns[0].pattern"]
    active = (await client.get("/api/v1/policy", headers=admin)).json()
    assert active["version"] == 1  # nothing saved


def test_a_document_that_skipped_validation_fails_closed_on_send() -> None:
    # model_construct skips the validators, as a row written by hand or by an old version
    # could: redaction must then refuse to produce text rather than send it unredacted.
    broken = CustomPattern.model_construct(name="tag", pattern=r"(?<=x)y", label="[tag]")
    with pytest.raises(PatternError):
        redact("xy", "standard", (), [broken])
    condition = Condition.model_construct(field="event.body", op="matches", value=r"(\w)\1")
    assert evaluate_condition(condition, {"event.body": "aa"})[0] is False


def test_word_classes_are_ascii_and_unicode_letters_need_backslash_p() -> None:
    # The documented difference from `re`; an admin's pattern behaves as the docs say.
    assert compile_pattern(r"^\w+$").search("Müller") is None
    assert compile_pattern(r"^\pL+$").search("Müller") is not None
