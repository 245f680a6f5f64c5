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


# ---------------------------------------------------------------- demo accounts on a public deployment


@pytest.mark.parametrize(
    "public_url",
    [
        "https://sahab.example.org",
        "http://sahab.example.org:8080",
        "http://10.0.0.5:8080",
        "http://0.0.0.0:8080",
        "https://127.0.0.1:8443",
    ],
)
def test_default_demo_accounts_are_refused_on_a_public_url(tmp_path, monkeypatch, public_url):
    monkeypatch.setenv("SAHAB_PUBLIC_URL", public_url)
    monkeypatch.setenv("SAHAB_DATA_DIR", str(tmp_path))
    with pytest.raises(ValidationError, match="refusing to serve the demo accounts on the public URL") as caught:
        Settings()
    assert "SAHAB_DEMO_ACCOUNTS=false" in str(caught.value) and "SAHAB_OIDC_ISSUER" in str(caught.value)


@pytest.mark.parametrize("public_url", ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"])
def test_default_demo_accounts_are_served_on_this_machine(tmp_path, monkeypatch, public_url):
    monkeypatch.setenv("SAHAB_PUBLIC_URL", public_url)
    assert Settings(data_dir=tmp_path).demo_accounts


@pytest.mark.parametrize(
    "variables",
    [
        {"SAHAB_DEMO_ACCOUNTS": "true"},  # asked for on purpose: a demonstration
        {"SAHAB_DEMO_ACCOUNTS": "false"},
        {
            "SAHAB_OIDC_ISSUER": "https://id.example.gov/realms/sahab"
        },  # the demo accounts only exist in the built-in issuer
    ],
)
def test_a_public_url_starts_when_the_choice_is_explicit(tmp_path, monkeypatch, variables):
    monkeypatch.setenv("SAHAB_PUBLIC_URL", "https://sahab.example.org")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    Settings(data_dir=tmp_path)


@pytest.mark.processes
def test_the_server_refuses_to_start_and_says_why(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    env.update(SAHAB_PUBLIC_URL="https://sahab.example.org", SAHAB_DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "api.server", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "refusing to serve the demo accounts on the public URL https://sahab.example.org" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "sahab.db").exists()


def test_page_size_default_cannot_exceed_the_maximum():
    with pytest.raises(ValidationError, match="page_size_default"):
        Settings(page_size_default=300, page_size_max=200)
