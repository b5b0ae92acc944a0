"""Who is who: Zendesk users by id, cached per connector.

Comments side-load their authors (`include=users`, contracts/zendesk/README.md § 2);
requesters and assignees are read with `users/show_many` (ASSUMED: the endpoint is not in
the contract). Without it people are mirrored by id only.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

from connectors.base import ConnectorError, NotFound, Person
from connectors.http import Forbidden, InvalidRequest
from connectors.zendesk.client import ZendeskClient
from connectors.zendesk.models import ZendeskUser

BATCH = 100


class Directory:
    """People of one account, looked up once each."""

    def __init__(self, client: ZendeskClient) -> None:
        self.client = client
        self.people: dict[int, Person] = {}
        self.users_readable = True

    def learn(self, raw_users: Iterable[object]) -> None:
        """Users side-loaded with a response."""
        for raw in raw_users:
            try:
                user = ZendeskUser.model_validate(raw)
            except ValidationError:
                continue
            self.people[user.id] = Person(str(user.id), user.name or None, user.email or None)

    async def resolve(self, user_ids: Iterable[int | None]) -> None:
        """Look up the users not seen yet (by id only when the account may not read them)."""
        missing = sorted({i for i in user_ids if i} - self.people.keys())
        if self.users_readable:
            try:
                for start in range(0, len(missing), BATCH):
                    self.learn(await self.client.users(missing[start : start + BATCH]))
            except (Forbidden, NotFound, InvalidRequest):
                self.users_readable = False
            except ConnectorError:
                raise
        for user_id in missing:
            self.people.setdefault(user_id, Person(external_id=str(user_id)))
