"""Settings from environment variables (SAHAB_*) and an optional YAML file (SAHAB_CONFIG_FILE).

Every field has an embedded default so that `./dev run` works on a fresh
machine: SQLite, a broker that needs no server, the built-in OIDC issuer and
the demo region catalogue.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from controlplane.domain.regions import DEMO_CATALOGUE


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
    # A worker renews its stack lease every third of this while it works; a dead worker's
    # stack is taken over by another once it expires (reconcile runs every 30 s).
    lease_seconds: int = 120
    # >0: each worker serves its own pod's counters on this port (one multiprocess dir per pod).
    worker_metrics_port: int = 0
    # Fernet keys (urlsafe base64 of 32 bytes) sealing the project users' credentials in the database,
    # newest first: the first seals, every one opens (rotation). Empty = one key made once in
    # data_dir/credentials.key (mode 0600), which only processes sharing that directory can read.
    credentials_keys: list[str] = Field(default_factory=list, repr=False)

    # Metering (issue 6): quota and usage read from every region's cloud by Celery beat.
    metering_interval_seconds: float = 300.0
    metering_workers: int = Field(8, ge=1, le=64, description="bounded thread pool for cloud calls")
    metering_timeout_seconds: float = Field(30.0, gt=0, description="per project (and per region) read")
    metering_retention_days: int = Field(400, ge=1, description="usage samples older than this are deleted")
    # Per-project quota/usage series on /metrics (openstack-exporter names); off by default (cardinality).
    metrics_per_project: bool = False
    alert_webhook_timeout_seconds: float = 5.0

    page_size_max: int = 200
    page_size_default: int = 50

    @model_validator(mode="after")
    def _embedded_defaults(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'sahab.db'}"
        if not self.broker_url:
            self.broker_url = "filesystem://"
        if self.oidc_issuer == "":
            self.oidc_issuer = self.builtin_issuer_url
        insecure = {"none", "HS256", "HS384", "HS512"} & set(self.oidc_algorithms)
        if insecure:
            raise ValueError(f"oidc_algorithms may list asymmetric algorithms only, not {sorted(insecure)}")
        return self

    @property
    def builtin_issuer_url(self) -> str:
        return self.public_url.rstrip("/") + "/issuer"

    @property
    def uses_builtin_issuer(self) -> bool:
        return self.oidc_issuer == self.builtin_issuer_url

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):  # type: ignore[no-untyped-def]
        return (init_settings, env_settings, _YamlFileSource(settings_cls), file_secret_settings)


@lru_cache
def get_settings() -> Settings:
    return Settings()
