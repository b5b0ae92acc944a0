"""Settings of one Jira Service Management site, parsed from the admin's `ConnectorConfig`.

Credentials are an Atlassian account's e-mail and API token, sent as HTTP Basic
(contracts/jira-sm/README.md § 0). They are checked when the first request is made, so
`check()` reports a missing one before anything is sent.
"""

from __future__ import annotations

import base64
import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from connectors.base import ConfigError, ConnectorConfig, normalize_base_url

DEFAULT_POLL_INTERVAL = 10.0
# A pasted REST, browse or portal URL is cut back to the site root.
_SITE_PATH = re.compile(r"/(rest|browse|jira|servicedesk|secure)(/.*)?$")


class JiraSMConfig(BaseModel):
    """The site URL, the account's e-mail and API token, project key and service desk id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    email: str = ""
    api_token: SecretStr | None = None
    # Jira project keys: an upper-case letter, then upper-case letters, digits, `_`. They
    # go into JQL, so nothing else is let through.
    project: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,254}$")
    # Numeric in Jira; anything URL-path-safe is let through and refused by `check()`.
    service_desk_id: str = Field(pattern=r"^[0-9A-Za-z_-]{1,40}$")
    poll_interval: float = Field(default=DEFAULT_POLL_INTERVAL, gt=0)

    @field_validator("url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        return _SITE_PATH.sub("", normalize_base_url(value))

    @classmethod
    def from_connector_config(cls, config: ConnectorConfig) -> JiraSMConfig:
        """Validate what the admin gave; errors name the setting, never its value."""
        settings, secrets = config.settings, config.secrets
        email = secrets.get("email")
        try:
            return cls(
                url=config.url or "",
                email=email.get_secret_value().strip() if email else "",
                api_token=secrets.get("api_token"),
                project=settings.get("project", "").strip().upper(),
                service_desk_id=settings.get("service_desk_id", "").strip(),
                poll_interval=settings.get("poll_interval", DEFAULT_POLL_INTERVAL),
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"jira_sm: invalid settings ({problems})") from None

    def authorization(self) -> str:
        """`Basic base64(email:api_token)`; a missing half is a ConfigError."""
        token = self.api_token.get_secret_value() if self.api_token else ""
        missing = [n for n, v in (("email", self.email), ("api_token", token)) if not v]
        if missing:
            raise ConfigError(f"jira_sm: the secret {' and '.join(missing)} is missing")
        pair = f"{self.email}:{token}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
