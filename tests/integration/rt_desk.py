"""RT's REST 2 API as its users use it, for integration tests that make things happen."""

from __future__ import annotations

from typing import Any

import httpx


class RTDesk:
    """RT's REST 2 API as its users use it (to make things happen, and to look)."""

    def __init__(self, http: httpx.AsyncClient, env: dict[str, str]) -> None:
        self.http, self.env = http, env
        self.rest = env["RT_URL"] + "/REST/2.0"

    def _headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"token {self.env[f'RT_{who.upper()}_TOKEN']}"}

    async def create(self, who: str, subject: str) -> int:
        ticket = {
            "Queue": self.env["RT_QUEUE"],
            "Subject": subject,
            "Requestor": self.env["RT_USER_EMAIL"],
            "Content": f"{subject}: details.",
            "ContentType": "text/plain",
        }
        response = await self.http.post(
            f"{self.rest}/ticket", json=ticket, headers=self._headers(who)
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def message(self, who: str, ticket_id: int, action: str, content: str) -> None:
        response = await self.http.post(
            f"{self.rest}/ticket/{ticket_id}/{action}",
            json={"Content": content, "ContentType": "text/plain"},
            headers=self._headers(who),
        )
        assert response.status_code == 201, response.text

    async def update(self, who: str, ticket_id: int, **fields: Any) -> None:
        response = await self.http.put(
            f"{self.rest}/ticket/{ticket_id}", json=fields, headers=self._headers(who)
        )
        assert response.status_code == 200, response.text
        assert all("changed" in m for m in response.json()), response.text

    async def history(self, who: str, ticket_id: int) -> dict[str, str]:
        """Transaction id → type, as this user may see them."""
        response = await self.http.get(
            f"{self.rest}/ticket/{ticket_id}/history",
            params={"fields": "Type", "per_page": 100},
            headers=self._headers(who),
        )
        response.raise_for_status()
        return {str(t["id"]): t["Type"] for t in response.json()["items"]}
