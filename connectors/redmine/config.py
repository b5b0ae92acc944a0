"""Settings of one Redmine instance, parsed from the admin's `ConnectorConfig`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from connectors.base import ConfigError, ConnectorConfig, normalize_base_url

DEFAULT_POLL_INTERVAL = 10.0


class RedmineConfig(BaseModel):
    """The instance's URL, API key, project identifier (or id) and poll interval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    api_key: SecretStr
    # An identifier ([a-z0-9_-]) or a numeric id: it goes into URL paths.
    project: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    poll_interval: float = Field(default=DEFAULT_POLL_INTERVAL, gt=0)

    @field_validator("url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        return normalize_base_url(value)

    @classmethod
    def from_connector_config(cls, config: ConnectorConfig) -> RedmineConfig:
        """Validate what the admin gave; errors name the setting, never its value."""
        settings = config.settings
        try:
            return cls(
                url=config.url or "",
                api_key=SecretStr(config.secret("api_key")),
                project=settings.get("project", "").strip(),
                poll_interval=settings.get("poll_interval", DEFAULT_POLL_INTERVAL),
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"redmine: invalid settings ({problems})") from None
