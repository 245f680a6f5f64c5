"""The same interop tests against both identity providers Sahab supports: its built-in issuer (served by
the API, demo accounts) and a real Keycloak (the README's "Using Keycloak" recipe). The CLI runs as its
console script with no terminal; device sign-ins are approved by an HTTP client filling the provider's
own pages as a browser does (tests/support/interop.py)."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import httpx

from tests.support.interop import Provider, device_tokens, refresh, unique_environment
from tests.support.keycloak import bearer, cli_login_by_device, decode_claims, run_cli

SHORT_LIFESPAN = 15  # seconds: the CLI's access tokens in the refresh test


def org_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()["items"]]


def login(provider: Provider, home: Path, user) -> None:  # type: ignore[no-untyped-def]
    done = cli_login_by_device(home, provider.url, user, approve=provider.approve_in_browser)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert f"{provider.issuer}/device" in done.stdout and "Logged in" in done.stdout


def stored(home: Path) -> dict:
    path = home / "sahab" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return json.loads(path.read_text())


def cli_orgs(home: Path) -> list[str]:
    listed = run_cli(home, "--output", "json", "orgs", "list")  # no terminal, nothing on stdin
    assert listed.returncode == 0, listed.stderr
    return [o["id"] for o in json.loads(listed.stdout)["items"]]


def test_sahab_login_by_device_flow_approved_in_the_browser(provider: Provider, tmp_path: Path) -> None:
    org, _ = provider.organisations()

    login(provider, tmp_path, org.member)

    whoami = run_cli(tmp_path, "--output", "json", "whoami")
    assert whoami.returncode == 0, whoami.stderr
    claims = json.loads(whoami.stdout)
    assert claims["iss"] == provider.settings.oidc_issuer and claims["aud"] == "sahab"
    assert claims["preferred_username"] == org.member.username
    assert org.id in {o.split(":")[0] for o in claims["sahab_orgs"]}
    first = stored(tmp_path)
    assert first["api_url"] == provider.url and first["refresh_token"]
    assert org.id in cli_orgs(tmp_path)


def test_client_credentials_for_an_agencys_automation(provider: Provider, tmp_path: Path) -> None:
    automation = provider.automation()

    login = run_cli(
        tmp_path,
        "login",
        "--api",
        provider.url,
        "--client-id",
        automation.client_id,
        "--client-secret",
        automation.secret,
    )

    assert login.returncode == 0, login.stderr
    claims = json.loads(run_cli(tmp_path, "--output", "json", "whoami").stdout)
    assert f"{automation.organisation}:admin" in claims["sahab_orgs"]
    assert "refresh_token" not in stored(tmp_path) or not stored(tmp_path)["refresh_token"]
    assert automation.organisation in cli_orgs(tmp_path)
    # As the organisation's admin it may manage Sahab's own member list of it.
    added = run_cli(tmp_path, "orgs", "add-member", automation.organisation, f"someone-{unique_environment()}")
    assert added.returncode == 0, added.stderr


def test_a_token_without_an_organisation_claim_sees_nothing(provider: Provider) -> None:
    org, _ = provider.organisations()
    token = device_tokens(provider, provider.nobody())["access_token"]
    assert not decode_claims(token).get("sahab_orgs")

    api = httpx.Client(base_url=provider.url, headers=bearer(token))
    assert org_ids(api.get("/v1/organisations")) == []
    assert api.get(f"/v1/organisations/{org.id}").status_code == 404
    assert api.get("/v1/quota-requests").json()["items"] == []


def test_a_member_of_org_x_sees_only_org_x(provider: Provider) -> None:
    org_x, org_y = provider.organisations()
    api = httpx.Client(base_url=provider.url, headers=bearer(device_tokens(provider, org_x.member)["access_token"]))

    assert org_ids(api.get("/v1/organisations")) == [org_x.id]
    assert api.get(f"/v1/organisations/{org_x.id}").status_code == 200
    assert api.get(f"/v1/organisations/{org_y.id}").status_code == 404


def test_the_platform_approver_role_can_approve(provider: Provider) -> None:
    business = provider.business()
    member_api = httpx.Client(
        base_url=provider.url, headers=bearer(device_tokens(provider, business.member)["access_token"])
    )
    approver_token = device_tokens(provider, provider.approver())["access_token"]
    assert "approver" in decode_claims(approver_token)["sahab_roles"]

    created = member_api.post(
        "/v1/quota-requests",
        json={
            "organisation_id": business.id,
            "region": "rabat-1",
            "environment": unique_environment(),
            "preset": "medium",
            "justification": "a workload beyond the automatic envelope",
        },
    )
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["state"] == "submitted"
    assert member_api.post(f"/v1/quota-requests/{request['id']}/approve", json={}).status_code == 403

    approved = httpx.post(
        f"{provider.url}/v1/quota-requests/{request['id']}/approve",
        headers=bearer(approver_token),
        json={"reason": "capacity planned"},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"


def test_an_expired_access_token_is_refreshed_by_the_cli_without_a_prompt(provider: Provider, tmp_path: Path) -> None:
    org, _ = provider.organisations()
    with provider.short_lived_access_tokens(SHORT_LIFESPAN):
        login(provider, tmp_path, org.member)
    first = stored(tmp_path)
    assert first["refresh_token"] and first["api_url"] == provider.url
    expires = decode_claims(first["access_token"])["exp"]
    assert expires - time.time() <= SHORT_LIFESPAN

    time.sleep(max(0.0, expires + 1 - time.time()))  # the access token's lifetime is what this test is about

    assert org.id in cli_orgs(tmp_path)
    second = stored(tmp_path)
    assert second["access_token"] != first["access_token"] and second["refresh_token"]
    assert decode_claims(second["access_token"])["exp"] > time.time()
    assert second["api_url"] == provider.url


def test_logout_revokes_the_refresh_token(provider: Provider, tmp_path: Path) -> None:
    login(provider, tmp_path, provider.nobody())
    refresh_token = stored(tmp_path)["refresh_token"]

    logout = run_cli(tmp_path, "logout")

    assert logout.returncode == 0, logout.stderr
    assert not (tmp_path / "sahab" / "credentials.json").exists()
    refused = refresh(provider, refresh_token)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", refused.text


def test_a_rotated_refresh_token_used_again_is_refused(provider: Provider) -> None:
    """Both rotate refresh tokens and refuse one that was rotated away (Keycloak: the realm's
    revokeRefreshToken with no reuse allowed)."""
    first = device_tokens(provider, provider.nobody())
    second = refresh(provider, first["refresh_token"])
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] != first["refresh_token"]

    reused = refresh(provider, first["refresh_token"])

    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant", reused.text
