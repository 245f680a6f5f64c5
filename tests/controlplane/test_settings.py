"""Settings: embedded defaults, a YAML file, environment variables over the file, refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from controlplane.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    import os

    for name in [n for n in os.environ if n.startswith("SAHAB_")]:
        monkeypatch.delenv(name)


def test_embedded_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path}/sahab/sahab.db"
    assert settings.broker_url == "filesystem://"
    assert settings.oidc_issuer == "http://127.0.0.1:8080/issuer" and settings.uses_builtin_issuer
    assert settings.provisioner == "pulumi"


def test_a_yaml_file_and_environment_variables_over_it(tmp_path, monkeypatch):
    config = tmp_path / "sahab.yaml"
    config.write_text(
        "database_url: postgresql://sahab@db/sahab\n"
        "broker_url: amqp://sahab@mq//\n"
        "oidc_issuer: https://id.example.gov\n"
        "auto_approve_envelope: {business: small, agency: large}\n"
    )
    monkeypatch.setenv("SAHAB_CONFIG_FILE", str(config))
    monkeypatch.setenv("SAHAB_BROKER_URL", "redis://cache:6379/0")
    settings = Settings()
    assert settings.database_url == "postgresql://sahab@db/sahab"
    assert settings.broker_url == "redis://cache:6379/0"
    assert not settings.uses_builtin_issuer
    assert settings.auto_approve_envelope == {"business": "small", "agency": "large"}


@pytest.mark.parametrize("algorithms", [["none"], ["RS256", "HS256"]])
def test_symmetric_or_no_signature_algorithms_are_refused(algorithms):
    with pytest.raises(ValidationError, match="asymmetric algorithms only"):
        Settings(oidc_algorithms=algorithms)


def test_the_in_memory_provisioner_cannot_be_chosen():
    with pytest.raises(ValidationError, match="provisioner"):
        Settings(provisioner="in-memory")


def test_unknown_settings_are_refused(tmp_path, monkeypatch):
    config = tmp_path / "sahab.yaml"
    config.write_text("databse_url: postgresql://typo\n")
    monkeypatch.setenv("SAHAB_CONFIG_FILE", str(config))
    with pytest.raises(ValidationError, match="databse_url"):
        Settings()
