"""Files of a public note: uploaded one by one for tokens, attached by the note's PUT.

`POST /uploads.json` takes the raw bytes (`application/octet-stream`, the name as the
`filename` parameter) and answers a token; the PUT that writes the note lists the tokens
in `uploads`, so the files and the text land in one journal. Redmine has no private
attachments: files never go with a private note.
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import FileRefused, FileToSend, TransientError
from connectors.redmine.client import RedmineClient, UploadRefused


async def upload_files(client: RedmineClient, files: Sequence[FileToSend]) -> list[dict[str, str]]:
    """Upload each file; the PUT's `uploads`, or `FileRefused` naming every file Redmine
    would not take. Then nothing is attached: the tokens of the others stay unattached
    (invisible, on no issue) until Redmine prunes them."""
    uploads: list[dict[str, str]] = []
    refused: list[FileToSend] = []
    reasons: list[str] = []
    limit: int | None = None
    for file in files:
        if limit is not None and file.size > limit:  # the limit Redmine just reported
            refused.append(file)
            reasons.append(f"{file.filename!r} ({file.size} bytes) is over Redmine's {limit}")
            continue
        data = await file.read()
        try:
            token = await client.upload(data, file.filename)
        except UploadRefused as exc:
            limit = exc.max_bytes if exc.max_bytes is not None else limit
            refused.append(file)
            reasons.append(exc.message)
            continue
        check_digest(token, file)
        uploads.append(
            {"token": token, "filename": file.filename, "content_type": file.content_type}
        )
    if refused:
        raise FileRefused("; ".join(reasons), refused, limit)
    return uploads


def check_digest(token: str, file: FileToSend) -> None:
    """Redmine 4+ tokens are `<id>.<SHA-256 of what it stored>`: the bytes must be ours."""
    _, _, digest = token.partition(".")
    if len(digest) == 64 and digest.lower() != file.sha256.lower():
        raise TransientError(f"Redmine stored other bytes than {file.filename!r} (upload digest)")
