"""Settings of one Freshservice account, parsed from the admin's `ConnectorConfig`.

contracts/freshservice/README.md § 0: the base is `https://<domain>.freshservice.com/api/v2/…`
(HTTPS only, Freshservice domains only, not custom CNAMEs), and the API key authenticates as
HTTP Basic with the key as user name and `X` as password.
"""

from __future__ import annotations

import base64
import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from connectors.base import ConfigError, ConnectorConfig, normalize_base_url

DEFAULT_POLL_INTERVAL = 10.0
# A pasted API, helpdesk or support-portal URL is cut back to the domain root.
_APP_PATH = re.compile(r"/(api/v2|a|helpdesk|support)(/.*)?$")


class FreshserviceConfig(BaseModel):
    """The domain URL, the API key, the workspace (optional)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    api_key: SecretStr
    # Freshservice ids are integers; the workspace's id goes into a URL path.
    workspace_id: int | None = Field(default=None, gt=0, lt=2**63)
    poll_interval: float = Field(default=DEFAULT_POLL_INTERVAL, gt=0)

    @field_validator("url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        return _APP_PATH.sub("", normalize_base_url(value))

    @field_validator("api_key")
    @classmethod
    def _plain_key(cls, value: SecretStr) -> SecretStr:
        # `:` would make `<api_key>:X` ambiguous; a key is one token without spaces.
        key = value.get_secret_value().strip()
        if not key or ":" in key or any(c.isspace() for c in key):
            raise ValueError("must be the API key from the agent's profile settings")
        return SecretStr(key)

    @classmethod
    def from_connector_config(cls, config: ConnectorConfig) -> FreshserviceConfig:
        """Validate what the admin gave; errors name the setting, never its value."""
        settings = config.settings
        workspace = settings.get("workspace_id", "").strip()
        try:
            return cls(
                url=config.url or "",
                api_key=SecretStr(config.secret("api_key")),
                workspace_id=workspace or None,
                poll_interval=settings.get("poll_interval", DEFAULT_POLL_INTERVAL),
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"freshservice: invalid settings ({problems})") from None

    def authorization(self) -> str:
        """`Basic base64("<api_key>:X")` (§ 0, the official curl sample `-u api_key:X`)."""
        pair = f"{self.api_key.get_secret_value()}:X".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
