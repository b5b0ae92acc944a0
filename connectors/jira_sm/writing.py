"""Write-back: a servicedeskapi request comment with `public` always explicit, read back.

contracts/jira-sm/README.md § 3b: `POST /rest/servicedeskapi/request/{key}/comment` with
`{"body", "public"}`; "Agents can create either public or internal comments, Unlicensed
users can only create internal comments, and Customers can only create public comments."
The platform API (§ 3a) would make every comment public (`jsdPublic` defaults to true), so
it is never used to write, and an internal note Jira refuses is never retried another way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.base import AuthError, ConnectorError, Visibility, WriteNotApplied
from connectors.http import Forbidden, InvalidRequest
from connectors.jira_sm.comments import newest_marked, with_marker
from connectors.jira_sm.models import Issue, RequestComment

if TYPE_CHECKING:
    from connectors.jira_sm.connector import JiraSMConnector

LABEL = {Visibility.PUBLIC: "public reply", Visibility.INTERNAL: "internal comment"}


async def write_comment(
    connector: JiraSMConnector,
    issue: Issue,
    body: str,
    visibility: Visibility,
    idempotency_key: str,
) -> str:
    """Find an earlier attempt by its marker, else write once; return the comment id."""
    before = await connector.comments(issue.id, [])
    existing = newest_marked(before, idempotency_key)
    if existing is not None:  # an earlier attempt got through
        await _check_visibility(connector, issue, existing, visibility)
        return existing.id
    what = f"add a {LABEL[visibility]} to {issue.key}"
    payload = {
        "body": with_marker(body, idempotency_key),
        "public": visibility is Visibility.PUBLIC,
    }
    try:
        await connector.client.request(
            "POST", f"/rest/servicedeskapi/request/{issue.key}/comment", what, body=payload
        )
    except (Forbidden, InvalidRequest) as exc:
        hint = (
            "; nothing was written: Socialdesk never sends an internal note any other way"
            if visibility is Visibility.INTERNAL
            else ""
        )
        refusal = AuthError if isinstance(exc, Forbidden) else ConnectorError
        raise refusal(f"{exc.message}{hint}") from None
    seen = {c.id for c in before}
    after = await connector.comments(issue.id, [])
    written = newest_marked([c for c in after if c.id not in seen], idempotency_key)
    if written is None:
        raise WriteNotApplied(
            f"Jira accepted the {LABEL[visibility]} for {issue.key} but the request shows no "
            "such comment (an automation rule or app may have removed it)"
        )
    await _check_visibility(connector, issue, written, visibility)
    return written.id


async def _check_visibility(
    connector: JiraSMConnector, issue: Issue, comment: RequestComment, wanted: Visibility
) -> None:
    """The stored comment has the visibility asked for; an internal one shown public goes."""
    if comment.public == (wanted is Visibility.PUBLIC):
        return
    if wanted is Visibility.INTERNAL:
        # Jira made public what was sent as internal (a customer account, ASSUMED): take it
        # down at once through the platform API (§ 2a deleteComment) and report.
        await connector.client.request(
            "DELETE",
            f"/rest/api/3/issue/{issue.id}/comment/{comment.id}",
            f"delete comment {comment.id} of {issue.key}",
        )
        raise WriteNotApplied(
            f"Jira stored the internal comment for {issue.key} as public (comment "
            f"{comment.id}); it was deleted: the account must be a licensed agent"
        )
    raise WriteNotApplied(
        f"Jira stored the public reply for {issue.key} as internal (comment {comment.id}): "
        "unlicensed accounts can only write internal comments"
    )
