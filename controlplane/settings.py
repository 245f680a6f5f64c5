"""Settings from environment variables (SAHAB_*) and an optional YAML file (SAHAB_CONFIG_FILE).

Every field has an embedded default so that `./dev run` works on a fresh
machine: SQLite, a broker that needs no server, the built-in OIDC issuer and
the demo region catalogue.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from controlplane.billing.prices import DEFAULT_PRICE_LIST, load_price_list
from controlplane.domain.regions import DEMO_CATALOGUE
from controlplane.webhooks.targets import TargetPolicy


def _is_loopback(url: str) -> bool:
    """http://127.0.0.1, http://[::1], http://localhost: only this machine can reach it."""
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    if parsed.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


class _YamlFileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("SAHAB_CONFIG_FILE")
        if not path:
            return {}
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of setting names to values")
        return data


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAHAB_", extra="forbid")

    data_dir: Path = Field(default_factory=lambda: _xdg("XDG_DATA_HOME", ".local/share") / "sahab")
    database_url: str = ""
    broker_url: str = ""
    # RabbitMQ's management API (http://user:password@rabbitmq:15672; a user tagged `monitoring`), read by
    # the API at scrape time for the age of the oldest waiting task. Empty: that age is not exported for AMQP.
    broker_management_url: str = ""
    catalogue_path: Path = DEMO_CATALOGUE
    public_url: str = "http://127.0.0.1:8080"

    # Identity. Empty issuer = the built-in one served at {public_url}/issuer.
    oidc_issuer: str = ""
    oidc_audience: str = "sahab"
    oidc_algorithms: list[str] = ["RS256", "PS256", "ES256", "EdDSA"]
    oidc_roles_claim: str = "sahab_roles"
    oidc_orgs_claim: str = "sahab_orgs"
    oidc_jwks_cache_seconds: int = 3600
    cli_client_id: str = "sahab-cli"
    demo_accounts: bool = True

    # Provisioning. The in-memory provisioner is a test fake and cannot be named here.
    provisioner: Literal["unavailable", "pulumi"] = "pulumi"
    # Empty = file:// under data_dir (embedded default); production: postgres:// or s3://.
    pulumi_backend_url: str = ""
    # Empty = a random passphrase kept in data_dir/pulumi/passphrase (mode 0600).
    pulumi_passphrase: str = ""
    auto_approve_envelope: dict[str, str] = {"business": "small", "agency": "medium"}
    # Requests of one organisation waiting for an approver (submitted); one more is refused with 409.
    max_pending_requests_per_organisation: int = Field(10, ge=1)
    # A worker renews its stack lease every third of this while it works; a dead worker's
    # stack is taken over by another once it expires (reconcile runs every 30 s).
    lease_seconds: int = 120
    # >0: each worker serves its own pod's counters on this port (one multiprocess dir per pod).
    worker_metrics_port: int = 0
    # Set (as the chart does): workers and beat touch this file while their loop runs, and the
    # liveness probe (`sahab-server alive`) checks its age. Empty = no heartbeat file.
    heartbeat_file: Path | None = None
    # Fernet keys (urlsafe base64 of 32 bytes) sealing the project users' credentials in the database,
    # newest first: the first seals, every one opens (rotation). Empty = one key made once in
    # data_dir/credentials.key (mode 0600), which only processes sharing that directory can read.
    credentials_keys: list[str] = Field(default_factory=list, repr=False)

    # Metering: quota and usage read from every region's cloud by Celery beat.
    metering_interval_seconds: float = 300.0
    metering_workers: int = Field(8, ge=1, le=64, description="bounded thread pool for cloud calls")
    metering_timeout_seconds: float = Field(30.0, gt=0, description="per project (and per region) read")
    metering_retention_days: int = Field(400, ge=1, description="usage samples older than this are deleted")
    metering_quota_check_seconds: float = Field(
        3600.0, gt=0, description="each project's Nova and Cinder quotas are read at least this often (for drift)"
    )
    metering_page_size: int = Field(1000, ge=1, le=10000, description="items per page of the all-project listings")
    # Per-project quota/usage series on /metrics (openstack-exporter names); off by default (cardinality).
    metrics_per_project: bool = False
    # Organisation webhooks. The timeout is the total deadline of one attempt (resolution,
    # connection, TLS, request and answer), not a per-read timeout.
    alert_webhook_timeout_seconds: float = Field(5.0, gt=0, le=60)
    alert_webhook_max_response_bytes: int = Field(64 * 1024, ge=1, description="answer bytes read, the rest is dropped")
    alert_webhook_attempts: int = Field(5, ge=1, le=20)
    alert_webhook_backoff_seconds: float = Field(30.0, ge=0, description="before attempt n+1: backoff x 2^(n-1)")
    # CIDRs or host names a webhook may reach although they are loopback/private/link-local/reserved
    # (an operator's own receivers); everything else must resolve to public addresses only.
    alert_webhook_allowed_targets: list[str] = []
    alert_webhook_retention_days: int = Field(30, ge=1, description="delivered alerts are kept this long")

    @field_validator("alert_webhook_allowed_targets")
    @classmethod
    def _webhook_targets_parse(cls, value: list[str]) -> list[str]:
        TargetPolicy(value)  # a malformed entry stops the start, naming it
        return value

    page_size_max: int = Field(200, ge=1, description="largest `limit` a list accepts")
    page_size_default: int = Field(50, ge=1, description="`limit` of a list that names none")

    # Hardening. Request bodies past this are refused with 413 before they are read whole.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # Idempotency-Key records are deleted this long after their first use (purged on write).
    idempotency_retention_hours: float = Field(24.0, ge=1)
    # True: only RFC 9068 access tokens (header typ at+jwt) are accepted. False: untyped JWTs too,
    # unless they are evidently ID tokens. The built-in issuer always sets at+jwt and is always strict.
    oidc_require_at_jwt: bool = False
    # When a JWKS refetch fails after the cache expired, keys already known keep verifying for this long.
    oidc_jwks_stale_seconds: int = Field(86400, ge=0)

    # Built-in issuer (api/issuer/): limits shared by every API process (kept in the database).
    issuer_rate_window_seconds: int = Field(60, ge=1, description="window of the device-start limits")
    issuer_device_starts_per_client: int = Field(
        3000, ge=1, description="device sign-ins started per client per window (a backstop)"
    )
    issuer_device_starts_per_address: int = Field(
        20, ge=1, description="device sign-ins started per address per window"
    )
    issuer_login_window_seconds: int = Field(900, ge=1, description="window in which wrong passwords are counted")
    issuer_login_failures_per_account: int = Field(5, ge=1, description="wrong passwords before an account is locked")
    issuer_login_failures_per_address: int = Field(20, ge=1, description="wrong passwords before an address is locked")
    issuer_lockout_seconds: int = Field(60, ge=1, description="first lockout; each further one doubles it")
    issuer_lockout_max_seconds: int = Field(3600, ge=1)
    issuer_access_token_seconds: int = Field(
        3600, ge=5, description="lifetime of the access tokens the built-in issuer signs"
    )
    issuer_refresh_token_seconds: int = Field(43200, ge=60, description="a refresh token unused this long expires")
    issuer_session_max_seconds: int = Field(
        604800, ge=60, description="a sign-in's refresh tokens end this long after it"
    )
    # Where the portal client may be sent back; empty = {public_url}/portal/callback.
    issuer_portal_redirect_uris: list[str] = []

    # Portal (api/portal/): the confidential client it signs people in with (authorization code with PKCE)
    # at the configured issuer, and its session cookies. Session keys are Fernet keys, newest first (the
    # first seals, every one opens); empty = one key made once in data_dir/portal-session.key.
    portal_client_id: str = "sahab-portal"
    portal_client_secret: str = Field("sahab-portal-secret", repr=False)
    portal_session_keys: list[str] = Field(default_factory=list, repr=False)
    portal_session_max_seconds: int = Field(28800, ge=60, description="a portal sign-in ends this long after it began")

    # Observability: HTTP metrics per route (off only to measure their cost),
    # OTLP/HTTP trace export when an endpoint is set (e.g. http://collector:4318; nothing is sent
    # by default), JSON log lines carrying trace and request ids, and how often each process
    # samples its own CPU, memory and open files.
    http_metrics: bool = True
    otlp_endpoint: str = ""
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    process_metrics_interval_seconds: float = Field(10.0, gt=0)

    # Billing (controlplane/billing/): the versioned price list, and how often beat issues last month's
    # statements, refreshes this month's drafts and sends budget alerts.
    price_list_path: Path = Field(default=DEFAULT_PRICE_LIST)
    statements_interval_seconds: float = Field(3600.0, gt=0)

    @field_validator("price_list_path")
    @classmethod
    def _price_list_parses(cls, value: Path) -> Path:
        load_price_list(value)  # a malformed price list stops the start, naming the place
        return value

    # Programmes (controlplane/programmes): the operator's catalogue (empty: none offered); how often beat sends
    # expiry notices, carries out expiries and settles shrinking enrolments.
    programmes_path: Path | None = None
    programmes_check_interval_seconds: float = Field(300.0, gt=0)
    # E-mail (expiry notices). Empty host: nothing is sent (the notices are recorded as skipped).
    smtp_host: str = ""
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_sender: str = "sahab@localhost"
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = Field("", repr=False)
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    smtp_attempts: int = Field(5, ge=1, le=20, description="tries per message before it is marked failed")

    # Running totals: how often beat recomputes each region's granted totals from the projects.
    totals_check_interval_seconds: float = Field(600.0, gt=0)

    @model_validator(mode="after")
    def _embedded_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'sahab.db'}"
        if not self.broker_url:
            self.broker_url = "filesystem://"
        if self.oidc_issuer == "":
            self.oidc_issuer = self.builtin_issuer_url
        insecure = {"none", "HS256", "HS384", "HS512"} & set(self.oidc_algorithms)
        if insecure:
            raise ValueError(f"oidc_algorithms may list asymmetric algorithms only, not {sorted(insecure)}")
        if self.page_size_default > self.page_size_max:
            raise ValueError(
                f"page_size_default ({self.page_size_default}) exceeds page_size_max ({self.page_size_max})"
            )
        self._refuse_public_demo_accounts()
        return self

    def _refuse_public_demo_accounts(self) -> None:
        """The demo accounts' passwords and client secrets are published in the README: serving them
        where others can reach Sahab gives anyone an approver and operator token."""
        if not (self.uses_builtin_issuer and self.demo_accounts) or "demo_accounts" in self.model_fields_set:
            return  # asked for explicitly (a demonstration), or not served at all
        if _is_loopback(self.public_url):
            return
        raise ValueError(
            f"refusing to serve the demo accounts on the public URL {self.public_url}: their passwords and secrets are "
            "published (README), so anyone could get an approver and operator token. Set SAHAB_OIDC_ISSUER to your "
            "identity provider, or SAHAB_DEMO_ACCOUNTS=false; SAHAB_DEMO_ACCOUNTS=true serves them on purpose"
        )

    @property
    def builtin_issuer_url(self) -> str:
        return self.public_url.rstrip("/") + "/issuer"

    @property
    def serves_loopback(self) -> bool:
        """Plain HTTP on this machine only: cookies cannot be marked Secure there."""
        return _is_loopback(self.public_url)

    @property
    def uses_builtin_issuer(self) -> bool:
        return self.oidc_issuer == self.builtin_issuer_url

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @classmethod
    def settings_customise_sources(  # type: ignore[no-untyped-def]
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings, env_settings, _YamlFileSource(settings_cls), file_secret_settings)


@lru_cache
def get_settings() -> Settings:
    return Settings()
