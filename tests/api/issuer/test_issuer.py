"""The built-in issuer over real HTTP: discovery, keys, both grants, the device page, key persistence."""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path

import httpx
import pytest

from api.auth import TokenVerifier
from api.issuer import create_issuer
from api.issuer.keys import key_path, load_or_create_signing_key
from controlplane.domain.states import PlatformRole
from tests.support import issuer_flows as flows
from tests.support.issuer_flows import DEVICE_GRANT

PRIVATE_PARTS = {"d", "p", "q", "dp", "dq", "qi"}


def decode(issuer, token: str) -> dict:
    return flows.decode(issuer.http, token)


def start_device(issuer) -> dict:
    return flows.start_device(issuer.http)


def poll(issuer, device_code: str, client_id: str = "sahab-cli") -> httpx.Response:
    return flows.poll(issuer.http, device_code, client_id)


def decide(issuer, user_code: str, username: str = "amina", password: str = "amina-demo", action: str = "approve"):
    return flows.decide(issuer.http, user_code, username, password, action)


# ---------------------------------------------------------------- discovery and keys


def test_discovery_document(issuer):
    response = issuer.http.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json()
    assert issuer.url == issuer.settings.builtin_issuer_url
    assert doc["issuer"] == issuer.url
    assert doc["jwks_uri"] == f"{issuer.url}/jwks"
    assert doc["token_endpoint"] == f"{issuer.url}/token"
    assert doc["device_authorization_endpoint"] == f"{issuer.url}/device_authorization"
    assert doc["authorization_endpoint"] == f"{issuer.url}/authorize"
    assert doc["revocation_endpoint"] == f"{issuer.url}/revoke"
    assert doc["grant_types_supported"] == ["authorization_code", "client_credentials", DEVICE_GRANT, "refresh_token"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]


def test_jwks_publishes_public_key_only(issuer):
    keys = issuer.http.get("/jwks").json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    assert not PRIVATE_PARTS & set(key)


# ---------------------------------------------------------------- client credentials


def test_client_credentials_with_basic_auth(issuer):
    response = issuer.http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=("agency-automation", "agency-automation-secret")
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    claims = decode(issuer, body["access_token"])
    now = int(issuer.clock.now().timestamp())
    assert claims["iss"] == issuer.url
    assert claims["sub"] == "client:agency-automation"
    assert claims["aud"] == "sahab"
    assert claims["iat"] == claims["nbf"] == now and claims["exp"] == now + 3600
    assert claims["jti"] and claims["client_id"] == "agency-automation" and claims["scope"]
    assert claims["name"] == "Agency automation"
    assert claims["sahab_orgs"] == ["org_demo_agency:admin"]
    assert claims["sahab_roles"] == []


def test_client_credentials_with_form_auth(issuer):
    response = issuer.http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "operator-automation",
            "client_secret": "operator-automation-secret",
            "scope": "sahab",
        },
    )
    assert response.status_code == 200, response.text
    claims = decode(issuer, response.json()["access_token"])
    assert claims["sub"] == "client:operator-automation"
    assert claims["sahab_roles"] == ["approver", "operator"]
    assert claims["scope"] == "sahab"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"auth": ("agency-automation", "wrong")},
        {"auth": ("nobody", "agency-automation-secret")},
        {"data_extra": {"client_id": "agency-automation", "client_secret": "wrong"}},
        {"data_extra": {}},
    ],
    ids=["basic-wrong-secret", "basic-unknown-client", "form-wrong-secret", "no-credentials"],
)
def test_client_credentials_refused(issuer, kwargs):
    data = {"grant_type": "client_credentials", **kwargs.get("data_extra", {})}
    response = issuer.http.post("/token", data=data, auth=kwargs.get("auth"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    if "auth" in kwargs:
        assert response.headers["www-authenticate"].startswith("Basic")


def test_unsupported_and_missing_grant_type(issuer):
    response = issuer.http.post(
        "/token", data={"grant_type": "password", "username": "amina", "password": "amina-demo"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    response = issuer.http.post("/token", data={})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_without_demo_accounts_nobody_exists(serve_issuer):
    issuer = serve_issuer(demo_accounts=False)
    response = issuer.http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=("agency-automation", "agency-automation-secret")
    )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    response = issuer.http.post("/device_authorization", data={"client_id": "sahab-cli"})
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


# ---------------------------------------------------------------- device flow


def test_device_flow_end_to_end(issuer):
    started = start_device(issuer)
    assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", started["user_code"])
    assert started["verification_uri"] == f"{issuer.url}/device"
    assert started["verification_uri_complete"] == f"{issuer.url}/device?user_code={started['user_code']}"
    assert started["expires_in"] == 600 and started["interval"] == 2

    pending = poll(issuer, started["device_code"])
    assert (pending.status_code, pending.json()["error"]) == (400, "authorization_pending")

    page = issuer.http.get("/device", params={"user_code": started["user_code"]})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'value="{started["user_code"]}"' in page.text
    assert 'value="approve"' in page.text and 'value="deny"' in page.text

    wrong_password = decide(issuer, started["user_code"], password="nope")
    assert wrong_password.status_code == 401 and "Wrong username or password" in wrong_password.text
    unknown_user = decide(issuer, started["user_code"], username="mallory")
    assert unknown_user.status_code == 401 and "Wrong username or password" in unknown_user.text
    wrong_code = decide(issuer, "BBBB-BBBB")
    assert wrong_code.status_code == 400 and "unknown, expired or already used" in wrong_code.text

    issuer.clock.advance(seconds=3)
    assert poll(issuer, started["device_code"]).json()["error"] == "authorization_pending"

    # The code is accepted however the person types it.
    approved = decide(issuer, started["user_code"].lower().replace("-", " "))
    assert approved.status_code == 200 and "Signed in as Amina El Idrissi" in approved.text

    issuer.clock.advance(seconds=3)
    response = poll(issuer, started["device_code"])
    assert response.status_code == 200, response.text
    claims = decode(issuer, response.json()["access_token"])
    assert claims["sub"] == "amina" and claims["name"] == "Amina El Idrissi" and claims["email"]
    assert claims["client_id"] == "sahab-cli" and claims["aud"] == "sahab"
    assert claims["sahab_orgs"] == ["org_demo_agency:admin"]

    # A device code is good for one token only, and an approved code cannot be approved again.
    issuer.clock.advance(seconds=3)
    assert poll(issuer, started["device_code"]).json()["error"] == "invalid_grant"
    assert decide(issuer, started["user_code"]).status_code == 400


def test_device_token_verifies_as_principal(issuer):
    started = start_device(issuer)
    assert decide(issuer, started["user_code"], "salma", "salma-demo").status_code == 200
    token = poll(issuer, started["device_code"]).json()["access_token"]
    verifier = TokenVerifier.from_settings(issuer.settings, clock=issuer.clock)
    principal = verifier.verify(token)
    assert principal.subject == "salma" and principal.issuer == issuer.url
    assert principal.platform_roles == {PlatformRole.APPROVER, PlatformRole.OPERATOR}
    assert principal.claimed_organisations == {}


def test_device_flow_polling_too_fast_slows_down(issuer):
    started = start_device(issuer)
    assert poll(issuer, started["device_code"]).json()["error"] == "authorization_pending"
    body = poll(issuer, started["device_code"]).json()
    assert body["error"] == "slow_down" and body["interval"] == 7


def test_device_flow_denied(issuer):
    started = start_device(issuer)
    # Denying needs the same credentials as approving: whoever guesses a code cannot cancel a sign-in.
    for credentials in ({}, {"username": "amina", "password": "wrong"}):
        refused = issuer.http.post("/device", data={"user_code": started["user_code"], "action": "deny", **credentials})
        assert refused.status_code == 401 and "Wrong username or password" in refused.text
    assert poll(issuer, started["device_code"]).json()["error"] == "authorization_pending"
    denied = decide(issuer, started["user_code"], action="deny")
    assert denied.status_code == 200 and "refused" in denied.text.lower()
    issuer.clock.advance(seconds=3)
    response = poll(issuer, started["device_code"])
    assert (response.status_code, response.json()["error"]) == (400, "access_denied")


def test_device_flow_expires(issuer):
    started = start_device(issuer)
    issuer.clock.advance(seconds=601)
    late = decide(issuer, started["user_code"])
    assert late.status_code == 400 and "expired" in late.text
    response = poll(issuer, started["device_code"])
    assert (response.status_code, response.json()["error"]) == (400, "expired_token")


def test_device_flow_refuses_foreign_client_and_unknown_code(issuer):
    started = start_device(issuer)
    assert issuer.http.post("/device_authorization", data={"client_id": "other"}).json()["error"] == "invalid_client"
    assert poll(issuer, started["device_code"], client_id="other").status_code == 401
    assert poll(issuer, "no-such-code").json()["error"] == "invalid_grant"


def test_device_page_escapes_input(issuer):
    page = issuer.http.get("/device", params={"user_code": '"><script>alert(1)</script>'})
    assert "<script>alert" not in page.text
    assert page.headers["x-frame-options"] == "DENY"


def test_device_page_speaks_the_persons_language(issuer):
    started = start_device(issuer)
    arabic = issuer.http.get(
        "/device", params={"user_code": started["user_code"]}, headers={"Accept-Language": "ar-MA,ar;q=0.9,fr;q=0.5"}
    )
    assert '<html lang="ar" dir="rtl">' in arabic.text and "تسجيل دخول جهاز" in arabic.text
    assert '<code dir="ltr">sahab login</code>' in arabic.text and 'name="ui_locales" value="ar"' in arabic.text
    # ui_locales (OIDC) wins over the header, and the answer to the form keeps the page's language.
    french = issuer.http.get("/device", params={"ui_locales": "fr-MA"}, headers={"Accept-Language": "ar"})
    assert '<html lang="fr" dir="ltr">' in french.text and "Connecter un appareil" in french.text
    wrong = issuer.http.post(
        "/device",
        data={
            "user_code": started["user_code"],
            "username": "amina",
            "password": "nope",
            "action": "approve",
            "ui_locales": "fr",
        },
    )
    assert wrong.status_code == 401 and "Identifiant ou mot de passe incorrect" in wrong.text
    unknown = issuer.http.post("/device", data={"user_code": "BBBB-BBBB", "ui_locales": "ar"})
    assert unknown.status_code == 400 and 'dir="rtl"' in unknown.text and "هذا الرمز غير معروف" in unknown.text
    done = issuer.http.post(
        "/device",
        data={"user_code": started["user_code"], "username": "amina", "password": "amina-demo", "action": "approve"},
        headers={"Accept-Language": "fr"},
    )
    assert done.status_code == 200 and "Connecté en tant que Amina El Idrissi" in done.text
    assert "Sign in a device" in issuer.http.get("/device").text  # English without a preference


# ---------------------------------------------------------------- signing key


def test_signing_key_persisted_and_reused(serve_issuer, tmp_path: Path):
    tmp_path = tmp_path / "fresh"
    first = serve_issuer(data_dir=tmp_path)
    kid = first.http.get("/jwks").json()["keys"][0]["kid"]
    path = key_path(tmp_path)
    assert path == tmp_path / "issuer" / "signing-key.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = first.http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=("agency-automation", "agency-automation-secret")
    ).json()["access_token"]

    second = serve_issuer(data_dir=tmp_path)
    assert second.http.get("/jwks").json()["keys"][0]["kid"] == kid
    assert decode(second, token)["sub"] == "client:agency-automation"
    assert create_issuer(first.settings).state.issuer.kid == kid


def test_signing_key_created_once_under_concurrency(tmp_path: Path):
    kids: list[str] = []
    barrier = threading.Barrier(8)

    def load() -> None:
        barrier.wait()
        kids.append(load_or_create_signing_key(tmp_path).as_dict()["kid"])

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kids) == 8 and len(set(kids)) == 1
    assert sorted(p.name for p in (tmp_path / "issuer").iterdir()) == ["signing-key.json", "signing-key.lock"]
