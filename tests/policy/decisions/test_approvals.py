"""Approvals over HTTP: who may decide, the two-person rule, reasons, and the audit trail."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApprovalAudit, Role, User
from app.policy.service import do_apply_policy
from tests.factories import auth, create_user
from tests.policy.support import notify, policy_yaml, store_event, ticket_for

HELD = policy_yaml(
    """
    - id: resolution-needs-approval
      on: [ticket.resolved, ticket.commented]
      to: [requester]
      via: [email]
      when: {field: event.visibility, op: eq, value: public}
      require_approval: true
    """,
    "approval: {two_person_rule: %s}\n",
)


async def _held(
    session: AsyncSession, *, author: User, body: str = "Fixed.", two_person: bool = True
) -> int:
    """A held event written by `author`; returns the approval request id."""
    text = HELD % ("true" if two_person else "false")
    await do_apply_policy(session, yaml_text=text, created_by_user_id=None)
    rita, _ = await create_user(session)
    ticket = await ticket_for(session, requester=rita)
    event = await store_event(session, ticket, kind="ticket.commented", body=body, actor=author)
    decisions = await notify(session, event)
    assert "hold" in {d.outcome for d in decisions}
    from app.policy.repository import approval_for_event

    found = await approval_for_event(session, f"ticket_event:{event.id}")
    assert found is not None
    return found.id


class TestWhoMayDecide:
    async def test_the_author_cannot_approve_under_the_two_person_rule(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        author, author_token = await create_user(session, role=Role.ADMIN)
        _, other_admin = await create_user(session, role=Role.ADMIN)
        approval_id = await _held(session, author=author)
        mine = await client.post(
            f"/api/v1/approvals/{approval_id}/approve", headers=auth(author_token)
        )
        assert mine.status_code == 403
        assert mine.json()["error"]["code"] == "two_person_rule"
        assert "another approver" in mine.json()["error"]["message"]
        theirs = await client.post(
            f"/api/v1/approvals/{approval_id}/approve", headers=auth(other_admin)
        )
        assert theirs.status_code == 200, theirs.text
        assert theirs.json()["status"] == "approved"
        # The approval, then the service's account of what it let out.
        assert [(a["action"], a["user_id"]) for a in theirs.json()["audit"]] == [
            ("approve", theirs.json()["decided_by_user_id"]),
            ("release", None),
        ]
        assert theirs.json()["audit"][1]["reason"] == "released 1 of 1 held message"

    async def test_without_the_two_person_rule_the_author_may_approve(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        author, token = await create_user(session, role=Role.ADMIN)
        approval_id = await _held(session, author=author, two_person=False)
        response = await client.post(
            f"/api/v1/approvals/{approval_id}/approve", headers=auth(token)
        )
        assert response.status_code == 200, response.text

    async def test_agents_need_the_approver_grant_and_end_users_never_get_it(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        author, _ = await create_user(session, role=Role.AGENT)
        agent, agent_token = await create_user(session, role=Role.AGENT)
        end_user, end_user_token = await create_user(session)
        _, admin_token = await create_user(session, role=Role.ADMIN)
        approval_id = await _held(session, author=author)
        url = f"/api/v1/approvals/{approval_id}/approve"
        denied = await client.post(url, headers=auth(agent_token))
        assert denied.status_code == 403
        assert "approver permission" in denied.json()["error"]["message"]
        listing = await client.get("/api/v1/approvals", headers=auth(end_user_token))
        assert listing.status_code == 403
        refused = await client.put(f"/api/v1/approvers/{end_user.id}", headers=auth(admin_token))
        assert refused.status_code == 422
        granted = await client.put(f"/api/v1/approvers/{agent.id}", headers=auth(admin_token))
        assert granted.status_code == 204
        approvers = (await client.get("/api/v1/approvers", headers=auth(admin_token))).json()
        assert [a["user_id"] for a in approvers] == [agent.id]
        pending = await client.get(
            "/api/v1/approvals", params={"status": "pending"}, headers=auth(agent_token)
        )
        assert [a["id"] for a in pending.json()["items"]] == [approval_id]
        assert pending.json()["items"][0]["requested_by_user_id"] == author.id
        assert (await client.post(url, headers=auth(agent_token))).status_code == 200
        again = await client.post(url, headers=auth(admin_token))
        assert again.status_code == 409
        revoked = await client.delete(f"/api/v1/approvers/{agent.id}", headers=auth(admin_token))
        assert revoked.status_code == 204
        assert (await client.get("/api/v1/approvals", headers=auth(agent_token))).status_code == 403


class TestReasonsAndAudit:
    async def test_a_rejection_needs_a_reason_and_is_audited(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        author, _ = await create_user(session, role=Role.AGENT)
        approver, token = await create_user(session, role=Role.ADMIN)
        approval_id = await _held(session, author=author)
        url = f"/api/v1/approvals/{approval_id}/reject"
        missing = await client.post(url, json={}, headers=auth(token))
        assert missing.status_code == 422
        assert missing.json()["error"]["details"][0]["field"] == "reason"
        blank = await client.post(url, json={"reason": "   "}, headers=auth(token))
        assert blank.status_code == 422
        assert blank.json()["error"]["code"] == "reason_required"
        done = await client.post(url, json={"reason": "wrong ticket"}, headers=auth(token))
        assert done.status_code == 200, done.text
        body = done.json()
        assert (body["status"], body["reason"], body["decided_by_user_id"]) == (
            "rejected",
            "wrong ticket",
            approver.id,
        )
        (row,) = (await session.execute(select(ApprovalAudit))).scalars()
        assert (row.action, row.user_id, row.reason) == ("reject", approver.id, "wrong ticket")

    async def test_approving_flagged_content_is_an_override_with_a_reason(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        author, _ = await create_user(session, role=Role.AGENT)
        _, token = await create_user(session, role=Role.ADMIN)
        approval_id = await _held(session, author=author, body="VPN gateway is 10.20.30.40")
        url = f"/api/v1/approvals/{approval_id}/approve"
        bare = await client.post(url, headers=auth(token))
        assert bare.status_code == 422
        assert "override" in bare.json()["error"]["message"]
        shown = await client.get(f"/api/v1/approvals/{approval_id}", headers=auth(token))
        assert shown.json()["findings"] == [{"kind": "ipv4", "label": "[IP address]"}]
        response = await client.post(
            url, json={"reason": "the address is public anyway"}, headers=auth(token)
        )
        assert response.status_code == 200, response.text
        assert [(a["action"], a["reason"]) for a in response.json()["audit"]] == [
            ("override", "the address is public anyway"),
            ("release", "released 1 of 1 held message"),
        ]

    async def test_unknown_requests_are_404(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await create_user(session, role=Role.ADMIN)
        response = await client.post("/api/v1/approvals/999999/approve", headers=auth(token))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
