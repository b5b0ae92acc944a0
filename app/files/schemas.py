"""API shapes of attachments."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

DOWNLOAD_PATH = "/api/v1/attachments/{id}"


class AttachmentOut(BaseModel):
    """A file as clients see it; `url` downloads it (for whoever may read its message)."""

    id: int
    filename: str
    size: int
    content_type: str
    url: str


def attachment_json(summary: dict[str, Any]) -> dict[str, Any]:
    """A stored summary ({id, filename, size, content_type}) with its download URL."""
    return {**summary, "url": DOWNLOAD_PATH.format(id=summary["id"])}
