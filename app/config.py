"""Settings: the only place that reads the environment (prefix SOCIALDESK_)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_FILE = "socialdesk.db"
MIN_SECRET_KEY_CHARS = 32
# Values people copy from examples instead of generating a key.
_PLACEHOLDER = re.compile(r"change.?me|replace.?me|your.?secret", re.I)


RoleName = Literal["admin", "agent", "end_user"]  # app.models.Role's values


class SsoProvider(BaseModel):
    """An OpenID Connect provider people sign in with (app/auth/sso)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # In the callback path (/auth/sso/<name>/callback), which the provider must allow.
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    label: str = Field(min_length=1, max_length=80)  # "Sign in with <label>"
    discovery_url: str = Field(pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    scopes: str = "openid email profile"
    groups_claim: str = "groups"
    # Provider group -> role; the highest role of a person's groups wins, none -> default.
    roles: dict[str, RoleName] = Field(default_factory=dict)
    default_role: RoleName = "end_user"
    # Match and create people by an e-mail the provider has not marked `email_verified`
    # (only for a provider that owns every address it hands out, e.g. the company's own).
    trust_unverified_email: bool = False


class SamlProvider(BaseModel):
    """A SAML 2.0 identity provider people sign in with (app/auth/sso/saml.py).

    Socialdesk is the service provider: entityID `<base_url>/auth/saml/<name>/metadata`,
    assertion consumer `<base_url>/auth/saml/<name>/acs` (HTTP-POST), both served there.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    label: str = Field(min_length=1, max_length=80)  # "Sign in with <label>"
    metadata_url: str = Field(pattern=r"^https?://")  # the IdP's metadata (keys, endpoints)
    email_attribute: str = "mail"
    name_attribute: str = "cn"
    groups_attribute: str = "groups"
    # IdP group -> role; the highest role of a person's groups wins, none -> default.
    roles: dict[str, RoleName] = Field(default_factory=dict)
    default_role: RoleName = "end_user"
    # A signed assertion from the organisation's own IdP vouches for the address it carries.
    trust_unverified_email: bool = True


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOCIALDESK_", extra="ignore")

    database_url: str = Field(default=f"sqlite+aiosqlite:///./{DEFAULT_SQLITE_FILE}")
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    smtp_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    # Where the demo keeps the secret key it generated (used only when SECRET_KEY is unset).
    state_dir: Path = Path(".socialdesk")
    log_level: str = "info"
    # Poll cadence of the sync worker's scheduler; each instance has its own poll_interval.
    sync_tick_seconds: float = 1.0
    # Agents who write on a ticket (chat or comment) follow it from then on.
    follow_on_comment: bool = True
    # Let people's own webhook and Apprise URLs reach loopback, private-network and
    # link-local addresses (off: such destinations are refused when saved and when sent).
    allow_private_destinations: bool = False
    # Stored policy decisions (the admin's explain) older than this many days are deleted
    # by a background pass, except those pending work still needs (app/policy/retention.py).
    decision_retention_days: int = Field(default=180, ge=1)
    # How long outbox rows claimed by a worker stay its own without a heartbeat: after a
    # worker dies, its rows wait this long before another worker sends them.
    outbox_lease_seconds: float = Field(default=60, ge=3)
    # Replies by e-mail (app/mailin): ticket mails get a signed Reply-To at this domain
    # (unset: no Reply-To, and mail-in refuses everything). Its MX, or a forward, must
    # bring mail for `reply+...@<domain>` to `socialdesk mail-in` or to the IMAP mailbox.
    reply_domain: str | None = None
    reply_ttl_days: int = Field(default=90, ge=1)
    # Larger mails are refused at the SMTP listener (SIZE) and skipped in the mailbox.
    mail_in_max_bytes: int = Field(default=10_000_000, ge=1024)
    # `imaps://user:password@host[:port]/Folder` (or `imap://`, plain, for a local server):
    # workers read replies from this mailbox, with IDLE where the server offers it.
    imap_url: SecretStr | None = None
    # `host:port`: `serve` (with its workers) also runs the SMTP listener for replies, the
    # single-process shape; split deployments run `socialdesk mail-in` instead.
    mail_in_listen: str | None = Field(default=None, pattern=r"^[^:]*:[0-9]{1,5}$")

    # Chat attachments (app/files): where their bytes live, `file:///dir` or
    # `s3://[key:secret@]bucket/prefix?endpoint=http://host:9000&region=...` (unset: the
    # `files` folder of the state directory), and how large they may be.
    files_url: str | None = None
    attachment_max_bytes: int = Field(default=10_000_000, ge=1)
    attachments_per_message: int = Field(default=10, ge=1)

    # Single sign-on: a JSON list of providers (SsoProvider), offered on the sign-in page.
    sso_providers: list[SsoProvider] = Field(default_factory=list)
    # SAML 2.0 identity providers (SamlProvider), a JSON list, offered next to them.
    saml_providers: list[SamlProvider] = Field(default_factory=list)
    # Roles that may still sign in with a local password (the others use single sign-on).
    password_sign_in: list[RoleName] = Field(default=["admin", "agent", "end_user"])

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        """Accept the URLs people paste and pick the async driver for them."""
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            return "postgresql+asyncpg://" + value.removeprefix("postgresql://")
        if value.startswith("sqlite://") and not value.startswith("sqlite+"):
            return "sqlite+aiosqlite://" + value.removeprefix("sqlite://")
        return value

    @model_validator(mode="after")
    def _provider_names_unique(self) -> Settings:
        # A name is a person's identity namespace (user_identities.provider): never shared.
        names = [p.name for p in self.sso_providers] + [p.name for p in self.saml_providers]
        if len(names) != len(set(names)):
            raise ValueError("single sign-on provider names must be unique (OIDC and SAML)")
        return self

    def sso_provider(self, name: str) -> SsoProvider | None:
        return next((p for p in self.sso_providers if p.name == name), None)

    def saml_provider(self, name: str) -> SamlProvider | None:
        return next((p for p in self.saml_providers if p.name == name), None)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def files_location(self) -> str:
        """The URL of the attachment store (`files_url`, else under `state_dir`)."""
        return self.files_url or (self.state_dir.resolve() / "files").as_uri()

    def require_secret_key(self) -> str:
        """The key (ring) that encrypts connector secrets and signs links.

        Refused when a key is short or a placeholder: everything signed or sealed with it
        (session-free links, connector passwords) would be as weak as the key.
        """
        if self.secret_key is not None and self.secret_key.get_secret_value():
            value = self.secret_key.get_secret_value()
            for key in value.replace(",", " ").split():
                weak = len(set(key)) < 5  # "aaaa…", "0000…": long, but no key
                if len(key) < MIN_SECRET_KEY_CHARS or weak or _PLACEHOLDER.search(key):
                    raise RuntimeError(
                        "SOCIALDESK_SECRET_KEY must be a random string of at least "
                        f"{MIN_SECRET_KEY_CHARS} characters (openssl rand -base64 48), not "
                        "a short or example value"
                    )
            return value
        stored = self.state_dir / "secret_key"
        if stored.exists():
            return stored.read_text().strip()
        raise RuntimeError(
            "SOCIALDESK_SECRET_KEY is not set (and no key was generated by `socialdesk demo`)"
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
