"""Settings of one ServiceNow instance, parsed from the admin's `ConnectorConfig`.

Credentials are either `username` + `password` (HTTP Basic, as the Table API docs' cURL
samples use) or `token` (an OAuth 2.0 bearer token); contracts/servicenow/README.md § 0.
They are checked when the first request is made, so `check()` reports a missing or
half-given pair the same way as a rejected one.
"""

from __future__ import annotations

import base64
import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from connectors.base import ConfigError, ConnectorConfig, normalize_base_url

DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_TABLE = "incident"
SYS_ID = re.compile(r"^[0-9a-f]{32}$")
# A pasted API or UI URL is cut back to the instance root.
_API_PATH = re.compile(r"/(api/now|nav_to\.do|now/nav)(/.*)?$")


class ServiceNowConfig(BaseModel):
    """The instance URL, credentials, table, assignment group and poll interval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    # Table names are lower-case words (`incident`, `sc_req_item`, `u_…`, `x_<scope>_…`):
    # they go into URL paths.
    table: str = Field(default=DEFAULT_TABLE, pattern=r"^[a-z][a-z0-9_]{0,79}$")
    # A group's sys_id or its name; `^` separates the terms of an encoded query.
    assignment_group: str = Field(min_length=1, max_length=100, pattern=r"^[^\^,\r\n]+$")
    poll_interval: float = Field(default=DEFAULT_POLL_INTERVAL, gt=0)

    @field_validator("url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        return _API_PATH.sub("", normalize_base_url(value))

    @classmethod
    def from_connector_config(cls, config: ConnectorConfig) -> ServiceNowConfig:
        """Validate what the admin gave; errors name the setting, never its value."""
        settings, secrets = config.settings, config.secrets
        username = secrets.get("username")
        try:
            return cls(
                url=config.url or "",
                username=username.get_secret_value().strip() or None if username else None,
                password=secrets.get("password"),
                token=secrets.get("token"),
                table=settings.get("table", "").strip() or DEFAULT_TABLE,
                assignment_group=settings.get("assignment_group", "").strip(),
                poll_interval=settings.get("poll_interval", DEFAULT_POLL_INTERVAL),
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"servicenow: invalid settings ({problems})") from None

    @property
    def group_is_sys_id(self) -> bool:
        return SYS_ID.fullmatch(self.assignment_group) is not None

    def authorization(self) -> str:
        """The `Authorization` header value; a missing or ambiguous pair is a ConfigError."""
        password = self.password.get_secret_value() if self.password else ""
        token = self.token.get_secret_value() if self.token else ""
        if token and (self.username or password):
            raise ConfigError(
                "servicenow: give either the secrets username and password, or token, not both"
            )
        if token:
            return f"Bearer {token}"
        if self.username and password:
            pair = f"{self.username}:{password}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        if self.username or password:
            missing = "password" if self.username else "username"
            raise ConfigError(f"servicenow: the secret {missing} is missing")
        raise ConfigError("servicenow: give the secrets username and password, or token")
