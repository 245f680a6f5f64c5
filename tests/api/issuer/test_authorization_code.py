"""The authorization code grant for the portal: sign-in page, PKCE S256 required, codes used once."""

from __future__ import annotations

import pytest

from tests.support import issuer_flows as flows


def authorization(issuer, challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": "sahab-portal",
        "redirect_uri": callback(issuer),
        "scope": "openid profile",
        "state": "st-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def callback(issuer) -> str:
    return issuer.settings.public_url + "/portal/callback"


def sign_in(
    issuer, params: dict[str, str], username: str = "youssef", password: str = "youssef-demo", action: str = "approve"
):
    return issuer.http.post("/authorize", data={**params, "username": username, "password": password, "action": action})


def exchange(issuer, code: str, verifier: str, **extra: str):
    return issuer.http.post(
        "/token",
        auth=flows.PORTAL,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": callback(issuer),
            "code_verifier": verifier,
            **extra,
        },
    )


def test_portal_sign_in_with_pkce(issuer):
    verifier, challenge = flows.pkce()
    params = authorization(issuer, challenge)
    page = issuer.http.get("/authorize", params=params)
    assert page.status_code == 200 and "sahab-portal" in page.text
    assert f'value="{challenge}"' in page.text and page.headers["x-frame-options"] == "DENY"

    wrong = sign_in(issuer, params, password="nope")
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text

    back = flows.redirect_params(sign_in(issuer, params))
    assert back["state"] == "st-1" and back["code"]
    response = exchange(issuer, back["code"], verifier)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["refresh_token"] and tokens["scope"] == "openid profile"
    claims = flows.decode(issuer.http, tokens["access_token"])
    assert claims["sub"] == "youssef" and claims["client_id"] == "sahab-portal"
    assert claims["sahab_orgs"] == ["org_demo_business:admin"] and claims["aud"] == "sahab"

    # The portal refreshes with its own secret.
    refreshed = issuer.http.post(
        "/token", auth=flows.PORTAL, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text


def test_a_code_used_twice_ends_the_sign_in_it_started(issuer):
    verifier, challenge = flows.pkce()
    code = flows.redirect_params(sign_in(issuer, authorization(issuer, challenge)))["code"]
    tokens = exchange(issuer, code, verifier).json()
    replayed = exchange(issuer, code, verifier)
    assert (replayed.status_code, replayed.json()["error"]) == (400, "invalid_grant")
    refused = issuer.http.post(
        "/token", auth=flows.PORTAL, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refused.json()["error"] == "invalid_grant"


def test_wrong_verifier_spends_the_code(issuer):
    verifier, challenge = flows.pkce()
    code = flows.redirect_params(sign_in(issuer, authorization(issuer, challenge)))["code"]
    refused = exchange(issuer, code, flows.pkce()[0])
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    assert exchange(issuer, code, verifier).json()["error"] == "invalid_grant"
    assert exchange(issuer, code, "").json()["error"] in {"invalid_request", "invalid_grant"}


def test_code_expires_within_a_minute(issuer):
    verifier, challenge = flows.pkce()
    code = flows.redirect_params(sign_in(issuer, authorization(issuer, challenge)))["code"]
    issuer.clock.advance(seconds=61)
    assert exchange(issuer, code, verifier).json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "change",
    [
        {"code_challenge": ""},
        {"code_challenge_method": "plain"},
        {"code_challenge_method": ""},
    ],
    ids=["no-challenge", "plain", "no-method"],
)
def test_pkce_s256_is_required(issuer, change):
    params = {k: v for k, v in {**authorization(issuer, flows.pkce()[1]), **change}.items() if v}
    back = flows.redirect_params(issuer.http.get("/authorize", params=params))
    assert back["error"] == "invalid_request" and back["state"] == "st-1"


def test_errors_before_the_redirect_uri_is_trusted_are_not_redirected(issuer):
    challenge = flows.pkce()[1]
    for change in ({"redirect_uri": "https://evil.example/cb"}, {"client_id": "nobody"}, {"client_id": "sahab-cli"}):
        page = issuer.http.get("/authorize", params={**authorization(issuer, challenge), **change})
        assert page.status_code == 400 and "location" not in page.headers


def test_cancel_redirects_access_denied_and_unknown_scope_is_refused(issuer):
    params = authorization(issuer, flows.pkce()[1])
    back = flows.redirect_params(sign_in(issuer, params, username="", password="", action="deny"))
    assert back["error"] == "access_denied" and "code" not in back
    back = flows.redirect_params(issuer.http.get("/authorize", params={**params, "scope": "openid admin"}))
    assert back["error"] == "invalid_scope"


def test_public_and_automation_clients_cannot_use_the_code_grant(issuer):
    verifier, challenge = flows.pkce()
    code = flows.redirect_params(sign_in(issuer, authorization(issuer, challenge)))["code"]
    as_cli = issuer.http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "sahab-cli",
            "redirect_uri": callback(issuer),
            "code_verifier": verifier,
        },
    )
    assert as_cli.json()["error"] == "unauthorized_client"
    as_automation = issuer.http.post(
        "/token",
        auth=("agency-automation", "agency-automation-secret"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": callback(issuer),
            "code_verifier": verifier,
        },
    )
    assert as_automation.json()["error"] == "unauthorized_client"
