"""Settings read from ``SERVICEBAY_*`` environment variables and an optional ``.env`` file."""

from __future__ import annotations

import ipaddress
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicebay.core.outbound import MAX_RESPONSE_BYTES

SECRET_KEY_FILE = "secret_key"
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PREFIX = "SERVICEBAY_"


def is_server_variable(name: str) -> bool:
    """The server's own settings (``SERVICEBAY_*``, read in any case) are never anything
    a user may name, such as a catalog file's webhook secret."""
    return name.upper().startswith(PREFIX)


class SettingsError(Exception):
    """Raised when the configuration cannot be used; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    data_dir: Path = Field(default=Path("data"), description="Folder for the SQLite file and keys")
    database_url: str = Field(default="", description="SQLAlchemy URL; default: SQLite in data_dir")
    database_direct_url: str = Field(
        default="",
        description="PostgreSQL URL for the workers' LISTEN connection when database_url "
        "goes through a transaction pooler; default: database_url",
    )
    analytics_database_url: str = Field(
        default="",
        description="URL insights and /api/v1/analytics read from, such as a read replica "
        "(only read, never written); default: database_url",
    )
    database_pool_size: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="PostgreSQL connections each web process keeps open for its requests "
        "(as many again may open for a burst and close after it)",
    )
    secret_key: str = Field(default="", description="Signs sessions and encrypts secrets")
    previous_secret_keys: list[str] = Field(
        default_factory=list, description="Old keys, tried when decrypting during rotation"
    )
    base_url: str = Field(default="http://127.0.0.1:8000", description="Public URL of the portal")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    fulfilment_allowed_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs that webhooks may reach although they are private or loopback",
    )
    fulfilment_allowed_hosts: list[str] = Field(default_factory=list)
    catalog_secret_variables: list[str] = Field(
        default_factory=list,
        description="Environment variables that catalog files may name as a webhook's "
        "signing secret (webhook_secret_env), as a JSON list; never SERVICEBAY_*",
    )
    fulfilment_max_response_bytes: int = Field(
        default=MAX_RESPONSE_BYTES,
        gt=0,
        description="A webhook answer longer than this fails the attempt (it is retried)",
    )
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    run_lease_seconds: float = Field(default=30.0, gt=0)
    worker_heartbeat_seconds: float = Field(
        default=1.0, gt=0, description="How often each worker records that it is alive"
    )
    worker_dead_after_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A worker whose heartbeat is this old is taken for stopped: any other "
        "worker takes its runs over without waiting for their lease",
    )
    retry_base_seconds: float = Field(
        default=2.0, gt=0, description="First retry delay of a failed run; doubles each attempt"
    )
    callback_timeout_seconds: float = Field(
        default=24 * 3600.0, gt=0, description="How long an accepted run waits for its callback"
    )
    smtp_host: str = Field(default="", description="Mail server for notifications (off if empty)")
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "servicebay@localhost"
    session_idle_minutes: int = Field(default=60 * 8, gt=0)
    session_absolute_hours: int = Field(default=24 * 7, gt=0)

    # Attempts allowed per minute, per user (or per address for sign-in).
    rate_limit_login: int = Field(default=10, ge=1)
    rate_limit_submit: int = Field(default=30, ge=1)
    rate_limit_search: int = Field(default=120, ge=1)
    rate_limit_tokens: int = Field(default=10, ge=1)
    rate_limit_tool_calls: int = Field(
        default=120, ge=1, description="Agent tool calls (MCP) per minute per user"
    )
    mcp_token: str = Field(
        default="", description="The API token `servicebay mcp` acts with over stdio"
    )

    max_body_bytes: int = Field(
        default=5 * 1024 * 1024, gt=0, description="Largest request body accepted, in bytes"
    )

    # Reverse proxies in front of the portal. Only from these addresses are the
    # X-Forwarded-For/-Proto headers believed (the caller's address, e.g. for the sign-in
    # limit) and, when proxy_auth is true, the sign-in headers (oauth2-proxy and similar).
    proxy_auth: bool = False
    trusted_proxies: list[str] = Field(
        default_factory=list, description="CIDRs of the reverse proxies; default: none"
    )
    proxy_user_header: str = "X-Forwarded-User"
    proxy_email_header: str = "X-Forwarded-Email"
    proxy_groups_header: str = Field(
        default="", description="e.g. X-Forwarded-Groups; empty: memberships are not synced"
    )

    # Sign-in with an OpenID Connect provider (Keycloak, Entra ID, Okta, ...): on when an
    # issuer is set. See docs/sign-in.md.
    oidc_issuer: str = Field(
        default="", description="the provider's issuer URL; empty: no OpenID Connect sign-in"
    )
    oidc_client_id: str = ""
    oidc_client_secret: str = Field(
        default="", description="empty for a public client (PKCE alone)"
    )
    oidc_scopes: str = Field(
        default="openid email profile", description="space-separated; must include openid"
    )
    oidc_provider_name: str = Field(
        default="your company account", description='shown as "Sign in with ..."'
    )
    oidc_groups_claim: str = Field(
        default="", description="ID token claim listing the person's groups; empty: not synced"
    )
    oidc_team_map: dict[str, str] = Field(
        default_factory=dict,
        description='JSON: group -> "team-slug" or "team-slug:lead"; other groups are '
        "matched by name",
    )
    oidc_lead_group_suffix: str = Field(
        default="-leads", description="a group named team slug + this makes its members leads"
    )
    oidc_admin_groups: list[str] = Field(
        default_factory=list,
        description="JSON list: groups whose members are administrators; empty: the groups "
        "do not decide who is one",
    )
    oidc_leeway_seconds: int = Field(
        default=60, ge=0, le=600, description="clock skew allowed on the ID token's times"
    )
    oidc_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    reporting_timezone: str = Field(
        default="UTC",
        description="IANA time zone (e.g. Europe/Rome) whose days insights count: "
        "throughput, aging and the cumulative flow; a team may set its own",
    )
    local_sign_in: Literal["on", "admins", "off"] = Field(
        default="on",
        description="who may sign in with a local password: everyone, administrators only "
        "(a way in when the provider is down), or nobody",
    )

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url", "analytics_database_url")
    @classmethod
    def _database_url_known(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:// or postgresql+psycopg:// URL")
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @field_validator("fulfilment_allowed_networks", "trusted_proxies")
    @classmethod
    def _networks_parse(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @field_validator("catalog_secret_variables")
    @classmethod
    def _secret_variables_are_not_settings(cls, value: list[str]) -> list[str]:
        for name in value:
            if not VARIABLE_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if is_server_variable(name):
                raise ValueError(f"{name} is a setting of the server, never a catalog secret")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_sign_in_names_its_proxies(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("proxy_auth") and not value:
            raise ValueError("proxy sign-in (SERVICEBAY_PROXY_AUTH) needs the proxies' addresses")
        return value

    @field_validator("reporting_timezone")
    @classmethod
    def _timezone_is_known(cls, value: str) -> str:
        value = value.strip() or "UTC"
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"no time zone {value!r} (an IANA name such as Europe/Rome)") from None
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer_is_a_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be the provider's https:// issuer URL")
        return value  # exactly as given: it must equal the ID tokens' iss, slash and all

    @field_validator("oidc_scopes")
    @classmethod
    def _scopes_ask_for_openid(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("must include openid")
        return " ".join(value.split())

    @field_validator("oidc_team_map")
    @classmethod
    def _team_map_names_roles(cls, value: dict[str, str]) -> dict[str, str]:
        for group, target in value.items():
            _, _, role = target.partition(":")
            if role not in ("", "member", "lead"):
                raise ValueError(f"group {group!r}: the role after ':' is member or lead")
        return value

    @field_validator("local_sign_in", mode="before")
    @classmethod
    def _local_sign_in_as_switch(cls, value: Any) -> Any:
        # SERVICEBAY_LOCAL_SIGN_IN=false reads as a switch, as it looks.
        switches = {"true": "on", "1": "on", "yes": "on", "false": "off", "0": "off", "no": "off"}
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, str):
            return switches.get(value.strip().lower(), value.strip().lower())
        return value

    @field_validator("oidc_client_id")
    @classmethod
    def _provider_knows_this_client(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("oidc_issuer") and not value:
            raise ValueError("OpenID Connect sign-in (SERVICEBAY_OIDC_ISSUER) needs a client id")
        return value

    @field_validator("local_sign_in")
    @classmethod
    def _someone_can_sign_in(cls, value: str, info: ValidationInfo) -> str:
        if value == "off" and not (info.data.get("oidc_issuer") or info.data.get("proxy_auth")):
            raise ValueError(
                "with local sign-in off, set SERVICEBAY_OIDC_ISSUER or SERVICEBAY_PROXY_AUTH, "
                "or nobody can sign in"
            )
        return value

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'servicebay.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def configure_secrets(self) -> None:
        """Make this process encrypt and decrypt stored secrets with the secret key."""
        from servicebay.core import crypto

        crypto.configure(self.resolved_secret_key(), self.previous_secret_keys)

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in the data folder."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / SECRET_KEY_FILE
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key


def load_settings(**overrides: object) -> Settings:
    """Read settings; raise SettingsError with one line naming the bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = "SERVICEBAY_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise SettingsError(f"invalid setting {name}: {first['msg']}") from error


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
