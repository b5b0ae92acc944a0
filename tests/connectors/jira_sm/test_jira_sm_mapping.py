"""Statuses by override, JSM name and statusCategory; priorities to P1-P4; the contract's
example payloads parsed (contracts/jira-sm/README.md § 1a, § 2b, § 5, § 9)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.jira_sm.models import Issue, RequestComment, adf_text
from tests.connectors.jira_sm.fake import FakeJira, fixture, make_connector


@pytest.mark.parametrize(
    ("name", "category", "expected"),
    [
        ("Waiting for customer", "indeterminate", "pending"),
        ("Canceled", "done", "closed"),
        ("Closed", "done", "closed"),
        ("Resolved", "done", "resolved"),
        ("Triage", "new", "new"),
        ("Investigating", "indeterminate", "in_progress"),
        ("Shipped", "done", "resolved"),
        ("Review", "in-flight", "in_progress"),  # the contract example's key
        ("Mystery", "", "open"),
    ],
)
def test_status(name: str, category: str, expected: str) -> None:
    connector = make_connector(FakeJira())
    connector._categories["900"] = category
    assert connector._status_of(name, "900") == expected


def test_overrides_by_name_or_id_win() -> None:
    connector = make_connector(
        FakeJira(), **{"status_map.waiting for customer": "open", "status_map.10050": "closed"}
    )
    assert connector._status_of("Waiting for customer", "10002") == "open"
    assert connector._status_of("Anything", "10050") == "closed"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Highest", "P1"),
        ("Critical", "P1"),
        ("High", "P2"),
        ("Medium", "P3"),
        ("Low", "P4"),
        ("Lowest", "P4"),
        ("Custom", "P3"),
    ],
)
def test_priority(name: str, expected: str) -> None:
    assert make_connector(FakeJira()).normalize_priority(name) == expected


def test_the_search_example_parses() -> None:
    [raw] = fixture("search_jql.json")["issues"]
    issue = Issue.model_validate(raw)
    assert issue.fields.updated == datetime(2021, 1, 18, 23, 45, tzinfo=UTC)
    assert issue.fields.reporter is not None
    assert issue.fields.reporter.displayName == "Mia Krystof"
    snap = make_connector(FakeJira())._translator().snapshot(issue)
    assert (snap.status, snap.priority, snap.description) == (
        "in_progress",
        "P2",
        "Main order flow broken",
    )


def test_request_comments_parse_with_visibility_and_dates() -> None:
    values = fixture("request_comments.json")["values"]
    public, internal = (RequestComment.model_validate(v) for v in values)
    assert (public.public, internal.public) == (True, False)
    assert public.created == datetime(2015, 10, 8, 7, 42, tzinfo=UTC)


def test_adf_is_read_as_text() -> None:
    doc = {
        "type": "doc",
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "One"},
                    {"type": "hardBreak"},
                    {"type": "text", "text": "two"},
                ],
            },
            {"type": "paragraph", "content": [{"type": "text", "text": "Three"}]},
        ],
    }
    assert adf_text(doc) == "One\ntwo\nThree"
