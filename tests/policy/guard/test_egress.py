"""The egress guard: the last door, which refuses loudly."""

from __future__ import annotations

import pytest

from app.policy.guard.egress import (
    ContentVisibility,
    InternalContentLeak,
    destination_is_internal,
    guard_egress,
)


class TestDestinationIsInternal:
    @pytest.mark.parametrize(
        ("channel", "role", "marked", "expected"),
        [
            ("in_app", "agent", False, True),
            ("email", "admin", False, True),
            ("in_app", "end_user", True, False),
            ("email", "public", True, False),
            ("webhook", "external", True, True),
            ("webhook", "external", False, False),
            ("apprise", "agent", False, False),
            ("ticket", "external", True, True),
            ("status_page", "public", True, False),
            ("feed", "agent", True, False),
            ("subscribers", "external", True, False),
        ],
    )
    def test_table(self, channel: str, role: str, marked: bool, expected: bool) -> None:
        assert destination_is_internal(channel, role, marked_internal=marked) is expected


ALLOWED = [
    ("internal", "agent", True, "assignee", "in_app"),
    ("internal", "admin", True, "agents", "email"),
    ("internal", "external", True, "agents", "ticket"),
    ("employees", "end_user", False, "employees", "in_app"),
    ("employees", "agent", True, "service_subscribers", "email"),
    ("employees", "external", True, "employees", "webhook"),
    ("public", "public", False, "public", "status_page"),
    ("public", "end_user", False, "requester", "email"),
    ("public", "external", False, "followers", "webhook"),
]

REFUSED = [
    ("internal", "end_user", False, "requester", "in_app"),
    ("internal", "end_user", True, "followers", "email"),  # a lying destination flag
    ("internal", "public", False, "public", "status_page"),
    ("internal", "agent", False, "agents", "webhook"),  # an agent's unmarked webhook
    ("internal", "external", False, "agents", "ticket"),
    ("internal", "agent", True, "public", "in_app"),
    ("internal", "agent", True, "agents", "feed"),
    ("employees", "public", False, "public", "status_page"),
    ("employees", "end_user", False, "public", "in_app"),
    ("employees", "end_user", False, "employees", "subscribers"),
    ("employees", "external", False, "employees", "webhook"),
    ("secret", "agent", True, "agents", "in_app"),  # an unknown visibility fails closed
    ("public", "robot", False, "requester", "email"),  # an unknown role fails closed
]


@pytest.mark.parametrize(("visibility", "role", "inside", "audience", "channel"), ALLOWED)
def test_allowed(
    visibility: ContentVisibility, role: str, inside: bool, audience: str, channel: str
) -> None:
    guard_egress(visibility, role, inside, audience, may_see_ticket=True, channel=channel)


@pytest.mark.parametrize(("visibility", "role", "inside", "audience", "channel"), REFUSED)
def test_refused(
    visibility: ContentVisibility, role: str, inside: bool, audience: str, channel: str
) -> None:
    with pytest.raises(InternalContentLeak) as refused:
        guard_egress(visibility, role, inside, audience, may_see_ticket=True, channel=channel)
    assert str(refused.value).startswith("egress refused: ")


def test_a_ticket_the_recipient_may_not_see_is_refused_even_when_public() -> None:
    with pytest.raises(InternalContentLeak, match="may not see"):
        guard_egress(
            "public", "end_user", False, "followers", may_see_ticket=False, channel="email"
        )


def test_the_leak_is_a_loud_runtime_error() -> None:
    assert issubclass(InternalContentLeak, RuntimeError)
    assert InternalContentLeak("x").reason == "x"
