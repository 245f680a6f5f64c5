"""What only Keycloak has, configured by the README's "Using Keycloak" recipe: the realm file's clients,
the portal's authorization code with PKCE, the recipe's admins subgroup and Sahab's member lists adding
to the groups' claim, and key rotation while Sahab serves. What both identity providers must do (device
login by the CLI, client credentials, organisations, roles, refresh, logout) is in test_interop.py."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Membership
from tests.support.interop import AUTOMATION
from tests.support.keycloak import (
    REALM_FILE,
    Browser,
    Sahab,
    bearer,
    client_credentials_token,
    decode_claims,
    decode_header,
    device_token,
)


def org_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()["items"]]


def test_keycloak_serves_the_realm_file_clients_and_grants(sahab: Sahab) -> None:
    realm = json.loads(REALM_FILE.read_text())
    discovery = httpx.get(f"{sahab.settings.oidc_issuer}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == sahab.settings.oidc_issuer
    assert {
        "urn:ietf:params:oauth:grant-type:device_code",
        "client_credentials",
        "authorization_code",
        "refresh_token",
    } <= set(discovery["grant_types_supported"])
    assert "S256" in discovery["code_challenge_methods_supported"]
    assert discovery["revocation_endpoint"]

    clients = {c["clientId"]: sahab.admin.client(c["clientId"]) for c in realm["clients"]}
    cli = clients[sahab.settings.cli_client_id]
    assert cli["publicClient"] and cli["attributes"]["oauth2.device.authorization.grant.enabled"] == "true"
    portal = clients["sahab-portal"]
    assert not portal["publicClient"] and portal["standardFlowEnabled"]
    assert portal["attributes"]["pkce.code.challenge.method"] == "S256"
    automation = clients[AUTOMATION[0]]
    assert automation["serviceAccountsEnabled"] and not automation["standardFlowEnabled"]
    for client in (cli, portal, automation):
        mappers = {m["name"]: m["config"] for m in client["protocolMappers"]}
        assert mappers["sahab organisations"]["claim.name"] == sahab.settings.oidc_orgs_claim
        assert mappers["sahab roles"]["claim.name"] == sahab.settings.oidc_roles_claim
        assert mappers["sahab audience"]["included.custom.audience"] == sahab.settings.oidc_audience


def test_the_portal_signs_in_by_authorization_code_with_pkce(sahab: Sahab) -> None:
    org = sahab.organisation()
    person = sahab.person(f"/{org}")
    endpoints = httpx.get(f"{sahab.keycloak.issuer}/.well-known/openid-configuration").json()
    redirect_uri = "http://127.0.0.1:8080/portal/callback"  # one of the realm file's redirect URIs
    query = {
        "client_id": "sahab-portal",
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "state": "s1",
    }

    without_pkce = httpx.get(endpoints["authorization_endpoint"], params=query)
    assert without_pkce.status_code == 302 and "error=invalid_request" in without_pkce.headers["location"]

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    browser = Browser()
    browser.open(
        str(
            httpx.URL(
                endpoints["authorization_endpoint"],
                params={**query, "code_challenge": challenge, "code_challenge_method": "S256"},
            )
        )
    )
    back = browser.submit(
        browser.form_with("username", "password"),
        {"username": person.username, "password": person.password},
        follow_redirects=False,
    )
    assert back.status_code == 302 and back.headers["location"].startswith(redirect_uri), back.text[:500]
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    browser.close()

    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    portal = ("sahab-portal", "sahab-portal-dev-secret")
    wrong = httpx.post(endpoints["token_endpoint"], auth=portal, data={**exchange, "code_verifier": "x" * 43})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # A code is single-use, and the failed attempt above spent it: sign in again for the right verifier.
    browser = Browser()
    browser.open(
        str(
            httpx.URL(
                endpoints["authorization_endpoint"],
                params={**query, "code_challenge": challenge, "code_challenge_method": "S256"},
            )
        )
    )
    back = browser.submit(
        browser.form_with("username", "password"),
        {"username": person.username, "password": person.password},
        follow_redirects=False,
    )
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    browser.close()
    token = httpx.post(
        endpoints["token_endpoint"], auth=portal, data={**exchange, "code": code, "code_verifier": verifier}
    )
    assert token.status_code == 200, token.text

    api = httpx.Client(base_url=sahab.url, headers=bearer(token.json()["access_token"]))
    assert org_ids(api.get("/v1/organisations")) == [org]


def test_a_member_of_group_org_x_is_not_its_admin(sahab: Sahab) -> None:
    org_x = sahab.organisation()
    member = sahab.person(f"/{org_x}")
    api = httpx.Client(base_url=sahab.url, headers=bearer(device_token(sahab.keycloak.issuer, member)["access_token"]))

    assert org_ids(api.get("/v1/organisations")) == [org_x]
    # A member, not an admin: the admins subgroup is what grants admin.
    assert api.post(f"/v1/organisations/{org_x}/members", json={"subject": "x", "role": "member"}).status_code == 403


def test_sahabs_member_list_adds_to_the_claim(sahab: Sahab) -> None:
    org_x, org_y = sahab.organisation(), sahab.organisation()
    member = sahab.person(f"/{org_x}")
    token = device_token(sahab.keycloak.issuer, member)["access_token"]
    with transaction(sahab.runtime.sessions) as session:  # as `sahab orgs add-member` by org_y's admin
        session.add(
            Membership(
                organisation_id=org_y,
                subject=decode_claims(token)["sub"],
                role="member",
                created_at=sahab.runtime.deps.clock.now(),
            )
        )

    api = httpx.Client(base_url=sahab.url, headers=bearer(token))
    assert sorted(org_ids(api.get("/v1/organisations"))) == sorted([org_x, org_y])


def test_key_rotation_while_sahab_serves(sahab: Sahab, shifted_verifier) -> None:
    verifier, clock = shifted_verifier
    org = sahab.organisation()
    sahab.admin.join(sahab.admin.service_account(AUTOMATION[0]), f"/{org}")
    issuer = sahab.keycloak.issuer
    with TestClient(create_app(sahab.settings, runtime=sahab.runtime, verifier=verifier)) as api:

        def sees(token: str) -> httpx.Response:
            return api.get("/v1/organisations", headers=bearer(token))

        old_token = client_credentials_token(issuer, *AUTOMATION)
        old_kid = sahab.admin.active_rs256_kid()
        assert decode_header(old_token)["kid"] == old_kid
        assert sees(old_token).status_code == 200
        fetches = verifier.fetch_count

        # Sahab has been serving a while (longer than the refetch limit) when an operator adds a key.
        clock.advance(verifier.refetch_interval)
        sahab.admin.add_rsa_key("rotated-rsa", priority=1000)
        new_token = client_credentials_token(issuer, *AUTOMATION)
        new_kid = decode_header(new_token)["kid"]
        assert new_kid != old_kid and new_kid == sahab.admin.active_rs256_kid()
        assert org in org_ids(sees(new_token)), "a token signed with the new key is accepted at once"
        assert verifier.fetch_count == fetches + 1
        assert sees(old_token).status_code == 200, "the old key is still published"

        # Keycloak drops the old key: Sahab trusts it until its JWKS cache expires, then refuses it.
        sahab.admin.delete_component(sahab.admin.key_provider_of(old_kid))
        assert old_kid not in {k["kid"] for k in httpx.get(f"{issuer}/protocol/openid-connect/certs").json()["keys"]}
        assert sees(old_token).status_code == 200
        clock.advance(sahab.settings.oidc_jwks_cache_seconds)
        refused = sees(old_token)
        assert refused.status_code == 401
        assert f"unknown key id {old_kid!r}" in refused.json()["detail"]
        assert org in org_ids(sees(client_credentials_token(issuer, *AUTOMATION)))
