"""Logging in (device flow through the real console script, client credentials), tokens and their expiry."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.cli import Cli, Served, write_credentials

SAHAB = Path(sys.executable).parent / "sahab"


@pytest.mark.processes
def test_device_login_with_the_console_script(served: Served, cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "device-home"
    env = {**os.environ, "XDG_CONFIG_HOME": str(home), "SAHAB_API_URL": "http://127.0.0.1:9"}
    env.pop("SAHAB_CLIENT_ID", None)
    env.pop("SAHAB_CLIENT_SECRET", None)
    process = subprocess.Popen(
        [str(SAHAB), "login", "--api", served.url], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        seen = []
        code = None
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            match = re.search(r"enter the code: (\S+)", line)
            if match:
                code = match.group(1)
                break
        assert code, "".join(seen)
        assert f"{served.url}/issuer/device" in "".join(seen)
        page = httpx.post(
            f"{served.url}/issuer/device",
            data={"user_code": code, "username": "amina", "password": "amina-demo", "action": "approve"},
        )
        assert page.status_code == 200
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, (out, err)
    assert "Logged in" in out and "amina" in out
    credentials = home / "sahab" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert json.loads(credentials.read_text())["grant"] == "device_code"
    assert json.loads((home / "sahab" / "config.json").read_text())["api_url"] == served.url

    # The remembered API URL and token work in-process too (no SAHAB_API_URL).
    result = cli.runner.invoke(
        __import__("cli.main", fromlist=["app"]).app,
        ["--output", "json", "whoami"],
        env={"XDG_CONFIG_HOME": str(home), "SAHAB_API_URL": None},
    )
    assert result.exit_code == 0, result.stderr
    claims = json.loads(result.stdout)
    assert claims["sub"] == "amina" and claims["sahab_orgs"] == ["org_demo_agency:admin"]
    result = cli.runner.invoke(
        __import__("cli.main", fromlist=["app"]).app,
        ["--output", "json", "orgs", "list"],
        env={"XDG_CONFIG_HOME": str(home), "SAHAB_API_URL": None},
    )
    assert result.exit_code == 0, result.stderr
    assert [o["id"] for o in json.loads(result.stdout)["items"]] == ["org_demo_agency"]


def test_client_credentials_login_whoami_logout(cli: Cli) -> None:
    result = cli("login", "--client-id", "agency-automation", "--client-secret", "agency-automation-secret", user=None)
    assert result.exit_code == 0, result.stderr
    assert "client:agency-automation" in result.stdout
    table = cli("whoami")
    assert table.exit_code == 0 and "client_credentials" in table.stdout and "org_demo_agency:admin" in table.stdout
    assert cli.json("whoami")["sub"] == "client:agency-automation"
    assert cli("logout").exit_code == 0
    assert cli("whoami").exit_code == 3


def test_wrong_client_secret_is_not_authenticated(cli: Cli) -> None:
    result = cli("login", "--client-id", "agency-automation", "--client-secret", "nope")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: Login failed: invalid_client")


def test_client_credentials_from_the_environment_fetch_a_fresh_token_when_expired(cli: Cli) -> None:
    env = {"SAHAB_CLIENT_ID": "operator-automation", "SAHAB_CLIENT_SECRET": "operator-automation-secret"}
    home = cli.home(None)
    write_credentials(home, "expired.token.x", cli.served.url, expires_at=time.time() - 10, grant="client_credentials")
    regions = cli.json("regions", **env)
    assert {r["id"] for r in regions} == {"rabat-1", "casablanca-1"}
    stored = json.loads((home / "sahab" / "credentials.json").read_text())
    assert stored["grant"] == "client_credentials" and stored["client_id"] == "operator-automation"
    assert stored["expires_at"] > time.time()


def test_not_logged_in_exits_3(cli: Cli) -> None:
    result = cli("request", "list")
    assert result.exit_code == 3
    assert "run `sahab login`" in result.stderr and "Traceback" not in result.output


def test_expired_device_token_exits_3(cli: Cli, tokens: dict[str, str]) -> None:
    write_credentials(cli.home(None), tokens["amina"], cli.served.url, expires_at=time.time() - 5)
    result = cli("regions")
    assert result.exit_code == 3
    assert result.stderr.strip().endswith("run `sahab login`")


def test_a_token_the_api_refuses_exits_3(cli: Cli) -> None:
    write_credentials(cli.home(None), "not-a.valid.token", cli.served.url)
    result = cli("regions")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: Authentication failed:")
