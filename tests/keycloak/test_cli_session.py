"""The CLI's session with Keycloak: refresh tokens kept like the access token (0600, bound to the API URL),
a silent refresh once the access token has expired, and `sahab logout` revoking the refresh token (RFC 7009).

The refresh-token side of the CLI is built on the "cli" branch; these tests are its contract with Keycloak."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.keycloak import Sahab, cli_login_by_device, decode_claims, run_cli

SHORT_LIFESPAN = 15  # seconds: the CLI client's access tokens in these tests


@pytest.fixture
def short_lived_cli_tokens(sahab: Sahab) -> Iterator[None]:
    """The CLI client's access tokens live SHORT_LIFESPAN seconds (a client attribute), so that one expires here."""
    client = sahab.settings.cli_client_id
    previous = sahab.admin.set_client_attributes(client, **{"access.token.lifespan": str(SHORT_LIFESPAN)})
    yield
    sahab.admin.set_client_attributes(client, **previous)


def stored(home: Path) -> dict:
    path = home / "sahab" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return json.loads(path.read_text())


def test_an_expired_access_token_is_refreshed_by_the_cli_without_a_prompt(
        sahab: Sahab, short_lived_cli_tokens: None, tmp_path: Path) -> None:
    org = sahab.organisation()
    login = cli_login_by_device(tmp_path, sahab.url, sahab.person(f"/{org}"))
    assert login.returncode == 0, (login.stdout, login.stderr)
    first = stored(tmp_path)
    assert first["refresh_token"] and first["api_url"] == sahab.url
    expires = decode_claims(first["access_token"])["exp"]
    assert expires - time.time() <= SHORT_LIFESPAN

    time.sleep(max(0.0, expires + 1 - time.time()))  # the access token's lifetime is what this test is about
    listed = run_cli(tmp_path, "--output", "json", "orgs", "list")  # no terminal, nothing on stdin

    assert listed.returncode == 0, listed.stderr
    assert [o["id"] for o in json.loads(listed.stdout)["items"]] == [org]
    second = stored(tmp_path)
    assert second["access_token"] != first["access_token"]
    assert decode_claims(second["access_token"])["exp"] > time.time()
    assert second["api_url"] == sahab.url


def test_logout_revokes_the_refresh_token(sahab: Sahab, tmp_path: Path) -> None:
    login = cli_login_by_device(tmp_path, sahab.url, sahab.person())
    assert login.returncode == 0, (login.stdout, login.stderr)
    refresh_token = stored(tmp_path)["refresh_token"]
    token_endpoint = f"{sahab.keycloak.issuer}/protocol/openid-connect/token"
    refresh = {"grant_type": "refresh_token", "client_id": sahab.settings.cli_client_id}

    logout = run_cli(tmp_path, "logout")

    assert logout.returncode == 0, logout.stderr
    assert not (tmp_path / "sahab" / "credentials.json").exists()
    refused = httpx.post(token_endpoint, data={**refresh, "refresh_token": refresh_token})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", refused.text
