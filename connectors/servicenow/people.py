"""Who is who: `sys_user` and `sys_user_group` lookups, cached per connector.

Records name users by sys_id (`caller_id`, `assigned_to`, `opened_by`), journal entries
by `user_name` (`sys_created_by`, contracts/servicenow/README.md § 2); both are looked up
in batches with the `IN` operator (as in § 1's `sys_class_nameIN…`). Without read access
to `sys_user` people are mirrored by sys_id or user name only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import ValidationError

from connectors.base import ConfigError, Person
from connectors.http import Forbidden
from connectors.servicenow.client import ServiceNowClient
from connectors.servicenow.models import USER_FIELDS, Group, User

BATCH = 50
# Values that can go into an `IN` list of an encoded query (`,` and `^` are separators).
_SAFE = re.compile(r"^[^,\^\s]{1,100}$")


def _chunks(values: Iterable[str]) -> list[list[str]]:
    ordered = sorted(v for v in values if _SAFE.fullmatch(v))
    return [ordered[i : i + BATCH] for i in range(0, len(ordered), BATCH)]


class Directory:
    """People and groups of one instance, looked up once each."""

    def __init__(self, client: ServiceNowClient) -> None:
        self.client = client
        self.people: dict[str, Person] = {}  # by sys_id and by user_name
        self.groups: dict[str, str] = {}  # group sys_id → name
        self.users_readable = True

    async def find_group(self, wanted: str, *, by_sys_id: bool) -> Group:
        """The configured assignment group, by sys_id or name; unknown is a ConfigError."""
        column = "sys_id" if by_sys_id else "name"
        page = await self.client.page(
            "sys_user_group", f"{column}={wanted}", "sys_id,name", "read groups", limit=2
        )
        groups = []
        for row in page.rows:
            try:
                groups.append(Group.model_validate(row))
            except ValidationError:
                continue
        # An invalid part of a query is ignored, not refused (§ 1): check what came back.
        matching = [g for g in groups if (g.sys_id if by_sys_id else g.name) == wanted]
        if not matching:
            raise ConfigError(
                f"ServiceNow has no assignment group with {column} {wanted!r} (sys_user_group)"
            )
        if len(matching) > 1:
            raise ConfigError(
                f"several ServiceNow groups are named {wanted!r}: give the group's sys_id"
            )
        self.groups[matching[0].sys_id] = matching[0].name
        return matching[0]

    async def resolve(self, user_ids: Iterable[str], user_names: Iterable[str]) -> None:
        """Look up the users not seen yet (a sys_user this account cannot read: by id only)."""
        ids = {v for v in user_ids if v} - self.people.keys()
        names = {v for v in user_names if v} - self.people.keys()
        if self.users_readable:
            try:
                for column, values in (("sys_id", ids), ("user_name", names)):
                    for chunk in _chunks(values):
                        await self._users(f"{column}IN{','.join(chunk)}")
            except Forbidden:
                self.users_readable = False
        for value in ids - self.people.keys():
            self.people[value] = Person(external_id=value)
        for value in names - self.people.keys():
            self.people[value] = Person(external_id=value, name=value)

    async def _users(self, query: str) -> None:
        for row in await self.client.rows("sys_user", query, USER_FIELDS, "read users"):
            try:
                user = User.model_validate(row)
            except ValidationError:
                continue
            person = Person(user.sys_id, user.name or user.user_name or None, user.email or None)
            self.people[user.sys_id] = person
            if user.user_name:
                self.people[user.user_name] = person

    async def resolve_groups(self, group_ids: Iterable[str]) -> None:
        """Names of groups a record moved between (for the change's payload only)."""
        missing = {g for g in group_ids if g} - self.groups.keys()
        try:
            for chunk in _chunks(missing):
                rows = await self.client.rows(
                    "sys_user_group", f"sys_idIN{','.join(chunk)}", "sys_id,name", "read groups"
                )
                for row in rows:
                    if isinstance(row, dict) and row.get("sys_id"):
                        self.groups[str(row["sys_id"])] = str(row.get("name") or "")
        except Forbidden:
            return
