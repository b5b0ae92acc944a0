"""Settings of one Zendesk account, parsed from the admin's `ConnectorConfig`.

contracts/zendesk/README.md § 0: the base is `https://{subdomain}.zendesk.com/api/v2/…`,
and an API token authenticates as `Authorization: Basic base64("{email}/token:{api_token}")`.
"""

from __future__ import annotations

import base64
import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from connectors.base import ConfigError, ConnectorConfig, normalize_base_url

DEFAULT_POLL_INTERVAL = 10.0
# A pasted API or agent-workspace URL is cut back to the subdomain root.
_APP_PATH = re.compile(r"/(api/v2|agent|hc)(/.*)?$")


class ZendeskConfig(BaseModel):
    """The subdomain URL, the agent's e-mail and API token, the webhook secret, the group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    # The sign-in address; `/` and `:` would make `{email}/token:{api_token}` ambiguous.
    email: str = Field(min_length=1, max_length=254, pattern=r"^[^\s/:]+$")
    api_token: SecretStr
    webhook_secret: SecretStr | None = None
    # Zendesk ids are integers; the group's id goes into a URL path.
    group_id: int | None = Field(default=None, gt=0, lt=2**63)
    poll_interval: float = Field(default=DEFAULT_POLL_INTERVAL, gt=0)

    @field_validator("url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        return _APP_PATH.sub("", normalize_base_url(value))

    @classmethod
    def from_connector_config(cls, config: ConnectorConfig) -> ZendeskConfig:
        """Validate what the admin gave; errors name the setting, never its value."""
        settings, secrets = config.settings, config.secrets
        group = settings.get("group_id", "").strip()
        try:
            return cls(
                url=config.url or "",
                email=config.secret("email").strip(),
                api_token=SecretStr(config.secret("api_token")),
                webhook_secret=secrets.get("webhook_secret") or None,
                group_id=group or None,
                poll_interval=settings.get("poll_interval", DEFAULT_POLL_INTERVAL),
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"zendesk: invalid settings ({problems})") from None

    def authorization(self) -> str:
        """`Basic base64("{email}/token:{api_token}")` (§ 0)."""
        pair = f"{self.email}/token:{self.api_token.get_secret_value()}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
