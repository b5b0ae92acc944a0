"""Write-back: a public reply or a private note, with the visibility explicit, read back.

contracts/freshservice/README.md § 3: "Create a Reply" is `POST /api/v2/tickets/{id}/reply`
with `body` (HTML); it is how Freshservice answers the requester, and its documented body
has no `private` field: a reply is public by what it is. "Create a Note" is
`POST /api/v2/tickets/{id}/notes` with `body` and `private` ("The default value is true").
An internal message is only ever written as a note with `"private": true` — never as a
reply, never without the flag — and a note Freshservice refuses is not retried another way.
Every write is read back from the conversations (§ 2): several systems answer success to
writes they ignored, and the stored `private` flag is the proof of visibility.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.base import AuthError, ConnectorError, Visibility, WriteNotApplied
from connectors.freshservice.comments import conversation_key, html_body, newest_marked
from connectors.freshservice.models import Conversation
from connectors.http import Forbidden, InvalidRequest

if TYPE_CHECKING:
    from connectors.freshservice.connector import FreshserviceConnector

LABEL = {Visibility.PUBLIC: "public reply", Visibility.INTERNAL: "private note"}


def request_for(visibility: Visibility, body: str, key: str) -> tuple[str, dict[str, Any]]:
    """The endpoint (under the ticket) and JSON body of one write."""
    html = html_body(body, key)
    if visibility is Visibility.INTERNAL:
        return "notes", {"body": html, "private": True}
    return "reply", {"body": html}


async def write_comment(
    connector: FreshserviceConnector,
    ticket_id: int,
    body: str,
    visibility: Visibility,
    idempotency_key: str,
) -> str:
    """Find an earlier attempt by its marker, else write once; return the conversation id."""
    before = await connector.conversations(ticket_id, [])
    existing = newest_marked(before, idempotency_key)
    if existing is not None:  # an earlier attempt got through
        await _check_visibility(connector, ticket_id, existing, visibility)
        return str(existing.id)
    endpoint, payload = request_for(visibility, body, idempotency_key)
    what = f"add a {LABEL[visibility]} to ticket {ticket_id}"
    try:
        await connector.client.request(
            "POST", f"/tickets/{ticket_id}/{endpoint}", what, body=payload
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
    after = await connector.conversations(ticket_id, [])
    written = newest_marked([c for c in after if c.id not in seen], idempotency_key)
    if written is None:
        raise WriteNotApplied(
            f"Freshservice accepted the {LABEL[visibility]} for ticket {ticket_id} but the "
            "ticket shows no such conversation (a workflow or app may have removed it)"
        )
    await _check_visibility(connector, ticket_id, written, visibility)
    return str(written.id)


async def _check_visibility(
    connector: FreshserviceConnector,
    ticket_id: int,
    conversation: Conversation,
    wanted: Visibility,
) -> None:
    """The stored `private` is the one asked for; an internal note shown public goes."""
    if conversation.private == (wanted is Visibility.INTERNAL):
        return
    if wanted is Visibility.INTERNAL:
        await _take_down(connector, ticket_id, conversation)
    raise WriteNotApplied(
        f"Freshservice stored the public reply for ticket {ticket_id} as a private note "
        f"(conversation {conversation.id}): the requester did not get it"
    )


async def _take_down(
    connector: FreshserviceConnector, ticket_id: int, conversation: Conversation
) -> None:
    """An internal note Freshservice shows in public: its text goes at once, then report.

    The note is rewritten to the marker alone (`PUT /api/v2/conversations/{id}`, ASSUMED:
    not in the contract), so a retry finds it by its key and never writes the text again;
    if Freshservice refuses, it is deleted (`DELETE`, ASSUMED as well).
    """
    cid = conversation.id
    what = f"take down conversation {cid} of ticket {ticket_id}"
    redacted = html_body("", marker_key_of(conversation))
    try:
        await connector.client.request(
            "PUT", f"/conversations/{cid}", what, body={"body": redacted}
        )
        done = "its text was removed"
    except ConnectorError:
        try:
            await connector.client.request("DELETE", f"/conversations/{cid}", what)
            done = "it was deleted"
        except ConnectorError as exc:
            raise WriteNotApplied(
                f"Freshservice stored the private note for ticket {ticket_id} as PUBLIC "
                f"(conversation {cid}) and refused to remove it ({exc.message}): remove it "
                "in Freshservice now"
            ) from None
    raise WriteNotApplied(
        f"Freshservice stored the private note for ticket {ticket_id} as public "
        f"(conversation {cid}); {done}, check who saw it"
    )


def marker_key_of(conversation: Conversation) -> str:
    return conversation_key(conversation) or ""
