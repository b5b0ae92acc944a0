"""Settings of one Request Tracker instance, parsed from the admin's `ConnectorConfig`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from connectors.base import ConfigError, ConnectorConfig, normalize_base_url

DEFAULT_POLL_INTERVAL = 10.0


class RTConfig(BaseModel):
    """The instance's root URL, auth token, queue (name or id) and poll interval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    token: SecretStr
    queue: str = Field(min_length=1)
    poll_interval: float = Field(default=DEFAULT_POLL_INTERVAL, gt=0)

    @field_validator("url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        # Admins often paste the REST 2 URL; the instance is keyed by the RT root.
        url = normalize_base_url(value)
        return url.removesuffix("/REST/2.0").removesuffix("/rest/2.0")

    @classmethod
    def from_connector_config(cls, config: ConnectorConfig) -> RTConfig:
        """Validate what the admin gave; errors name the setting, never its value."""
        settings = config.settings
        try:
            return cls(
                url=config.url or "",
                token=SecretStr(config.secret("token")),
                queue=settings.get("queue", "").strip(),
                poll_interval=settings.get("poll_interval", DEFAULT_POLL_INTERVAL),
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"rt: invalid settings ({problems})") from None
