"""Who is who: Freshservice requesters and agents by id, cached per connector.

Tickets and conversations name people by id only (contracts/freshservice/README.md § 1,
§ 2). They are looked up with `GET /api/v2/requesters/{id}` (`primary_email`) and, for an
id that is no requester, `GET /api/v2/agents/{id}` (`email`): ASSUMED, neither endpoint is
in the contract. Without them (refused, missing) people are mirrored by id only, which
costs the matching of requesters to Socialdesk users by e-mail, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

from connectors.base import ConfigError, NotFound, Person
from connectors.freshservice.client import FreshserviceClient
from connectors.freshservice.models import Person as RawPerson
from connectors.http import Forbidden, InvalidRequest

KINDS = (("requesters", "requester"), ("agents", "agent"))


class Directory:
    """People of one account, looked up once each."""

    def __init__(self, client: FreshserviceClient) -> None:
        self.client = client
        self.people: dict[int, Person] = {}
        self.readable = {"requesters": True, "agents": True}

    def person(self, user_id: int | None) -> Person | None:
        if user_id is None:
            return None
        return self.people.get(user_id) or Person(external_id=str(user_id))

    async def resolve(self, user_ids: Iterable[int | None]) -> None:
        """Look up the people not seen yet (by id only when they cannot be read)."""
        for user_id in sorted({i for i in user_ids if i} - self.people.keys()):
            self.people[user_id] = await self._lookup(user_id)

    async def _lookup(self, user_id: int) -> Person:
        for path, key in KINDS:
            if not self.readable[path]:
                continue
            try:
                raw = await self.client.get_object(
                    f"/{path}/{user_id}", f"read {key} {user_id}", key
                )
                found = RawPerson.model_validate(raw)
            except NotFound:
                continue
            except (Forbidden, InvalidRequest, ConfigError):
                self.readable[path] = False
                continue
            except ValidationError:
                continue
            if found.id != user_id:  # an answer about someone else is not trusted
                continue
            return Person(str(user_id), found.name, found.primary_email or found.email or None)
        return Person(external_id=str(user_id))
