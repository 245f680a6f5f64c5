"""Sessions that last: refresh tokens kept at login, redeemed silently, revoked at logout,
against a real OAuth server on loopback and the real API trusting it."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli import auth, config
from cli.errors import CliError
from tests.support.cli import Cli, External


@pytest.fixture(autouse=True)
def no_device_wait(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The device grant's polling interval is honoured (tests/cli/test_auth.py runs the real wait); here
    the sessions after the login are what is tested, so the CLI's wait before its first poll is recorded
    instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(auth.device_login, "__defaults__", (waits.append,))
    return waits


def stored(home: Path) -> dict[str, Any]:
    return json.loads((home / "sahab" / "credentials.json").read_text())


def login(cli: Cli, external: External) -> Path:
    external.issuer.auto_approve = "amina"
    result = cli("login", "--api", external.url)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Logged in to" in result.stdout and "refresh token" in result.stdout
    return cli.home(None)


def test_login_keeps_the_refresh_token_with_the_same_care(cli: Cli, external: External) -> None:
    home = login(cli, external)
    path = home / "sahab" / "credentials.json"
    saved = stored(home)
    assert saved["refresh_token"] and saved["api_url"] == external.url and saved["issuer"] == external.issuer.url
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert external.issuer.refresh_is_active(saved["refresh_token"])


def test_an_expired_access_token_is_refreshed_without_a_prompt(cli: Cli, external: External) -> None:
    external.issuer.access_lifetime = 5  # expired already for the CLI, which renews 30 s early
    home = login(cli, external)
    first = stored(home)
    external.issuer.access_lifetime = 600
    regions = cli.json("regions", SAHAB_API_URL=external.url)
    assert {r["id"] for r in regions} >= {"rabat-1"}
    redeemed = external.issuer.grants("refresh_token")
    assert redeemed == [
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": "sahab-cli"}
    ]
    rotated = stored(home)
    assert rotated["access_token"] != first["access_token"] and rotated["expires_at"] > time.time() + 500
    assert rotated["refresh_token"] != first["refresh_token"] and rotated["api_url"] == external.url
    assert stat.S_IMODE((home / "sahab" / "credentials.json").stat().st_mode) == 0o600
    # The next command uses the new pair as it is.
    assert cli.json("regions", SAHAB_API_URL=external.url)
    assert len(external.issuer.grants("refresh_token")) == 1


def test_an_issuer_that_does_not_rotate_leaves_the_refresh_token_in_place(cli: Cli, external: External) -> None:
    external.issuer.access_lifetime, external.issuer.rotate = 5, False
    home = login(cli, external)
    first = stored(home)
    assert cli("regions", SAHAB_API_URL=external.url).exit_code == 0
    assert stored(home)["refresh_token"] == first["refresh_token"]
    assert stored(home)["access_token"] != first["access_token"]


def test_a_401_for_a_token_the_clock_thought_valid_is_refreshed_once(cli: Cli, external: External) -> None:
    issuer = external.issuer
    home = cli.home(None)
    # A skewed local clock: the file says an hour left, the token expired ten minutes ago.
    config_dir = home / "sahab"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "credentials.json").write_text(
        json.dumps(
            {
                "access_token": issuer.access_token("amina", lifetime=-600),
                "expires_at": time.time() + 3600,
                "grant": "device_code",
                "api_url": external.url,
                "client_id": "sahab-cli",
                "issuer": issuer.url,
                "refresh_token": issuer.refresh_token_for("amina"),
            }
        )
    )
    result = cli("--output", "json", "request", "list", SAHAB_API_URL=external.url)
    assert result.exit_code == 0, result.stderr
    assert len(issuer.grants("refresh_token")) == 1
    assert stored(home)["expires_at"] < time.time() + 700  # the issued token's own exp now


def test_a_session_ended_at_the_issuer_asks_to_log_in(cli: Cli, external: External) -> None:
    issuer = external.issuer
    issuer.access_lifetime = 5
    home = login(cli, external)
    refresh_token = stored(home)["refresh_token"]
    httpx.post(f"{issuer.url}/revoke", data={"token": refresh_token, "client_id": "sahab-cli"}).raise_for_status()
    result = cli("regions", SAHAB_API_URL=external.url)
    assert result.exit_code == 3
    assert "the session ended (invalid_grant" in result.stderr and "run `sahab login`" in result.stderr
    assert "Traceback" not in result.output


def test_logout_revokes_the_refresh_token_and_deletes_the_local_tokens(cli: Cli, external: External) -> None:
    home = login(cli, external)
    refresh_token = stored(home)["refresh_token"]
    result = cli("logout")
    assert result.exit_code == 0, result.stderr
    assert f"revoked at {external.issuer.url}/revoke" in result.stdout
    assert external.issuer.revocations() == [
        {"token": refresh_token, "token_type_hint": "refresh_token", "client_id": "sahab-cli"}
    ]
    assert not external.issuer.refresh_is_active(refresh_token)
    assert not (home / "sahab" / "credentials.json").exists()
    assert cli("regions", SAHAB_API_URL=external.url).exit_code == 3


def test_logout_where_the_issuer_offers_no_revocation_still_deletes(cli: Cli, external: External) -> None:
    external.issuer.revocation = False
    home = login(cli, external)
    result = cli("logout")
    assert result.exit_code == 0, result.stderr
    assert "offers no revocation" in result.stdout
    assert external.issuer.revocations() == []
    assert not (home / "sahab" / "credentials.json").exists()


def test_logout_when_revocation_fails_deletes_and_says_so(cli: Cli, external: External) -> None:
    home = login(cli, external)
    credentials = stored(home)
    credentials["client_id"] = "someone-else"  # the issuer refuses the revocation (401 invalid_client)
    (home / "sahab" / "credentials.json").write_text(json.dumps(credentials))
    result = cli("logout")
    assert result.exit_code == 3
    assert "Revocation failed" in result.stderr and "local tokens were deleted" in result.stderr
    assert not (home / "sahab" / "credentials.json").exists()


def test_a_refresh_another_command_already_made_is_reused(cli: Cli, external: External, monkeypatch: Any) -> None:
    """Two commands finding the same expired token: the second uses the first one's pair rather than
    redeem a refresh token that was rotated away (which ends the session at an issuer that detects reuse)."""
    external.issuer.access_lifetime = 5
    home = login(cli, external)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    stale = config.load_credentials()
    assert stale is not None and stale.expired()
    external.issuer.access_lifetime = 600
    first = auth.refresh(stale)
    second = auth.refresh(stale)
    assert second.access_token == first.access_token and second.refresh_token == first.refresh_token
    assert len(external.issuer.grants("refresh_token")) == 1
    assert external.issuer.refresh_is_active(first.refresh_token or "")


def test_whoami_renews_an_expired_token_and_shows_the_session(cli: Cli, external: External) -> None:
    external.issuer.access_lifetime = 5
    home = login(cli, external)
    before = stored(home)["access_token"]
    external.issuer.access_lifetime = 600
    result = cli("whoami", SAHAB_API_URL=external.url)
    assert result.exit_code == 0, result.stderr
    assert "renewed by its refresh token" in result.stdout and external.url in result.stdout
    assert stored(home)["access_token"] != before


def test_a_session_past_its_refresh_lifetime_asks_to_log_in_without_asking_the_issuer(
    cli: Cli, external: External
) -> None:
    home = login(cli, external)
    credentials = stored(home)
    credentials.update(expires_at=time.time() - 60, refresh_expires_at=time.time() - 1)
    (home / "sahab" / "credentials.json").write_text(json.dumps(credentials))
    result = cli("regions", SAHAB_API_URL=external.url)
    assert result.exit_code == 3
    assert "the stored token expired, and so did the session" in " ".join(result.stderr.split())
    assert external.issuer.grants("refresh_token") == []


def test_a_refresh_does_not_redeem_a_session_replaced_meanwhile(cli: Cli, external: External, monkeypatch: Any) -> None:
    """Another command logged in to another API while this one was about to refresh: nothing is redeemed,
    and no token of the other API is handed to this one."""
    external.issuer.access_lifetime = 5
    home = login(cli, external)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    stale = config.load_credentials()
    assert stale is not None
    replaced = stored(home) | {"api_url": "http://127.0.0.1:9"}
    (home / "sahab" / "credentials.json").write_text(json.dumps(replaced))
    with pytest.raises(CliError) as refused:
        auth.refresh(stale)
    assert refused.value.exit_code == 3 and "issued for http://127.0.0.1:9" in refused.value.detail
    assert external.issuer.grants("refresh_token") == []
