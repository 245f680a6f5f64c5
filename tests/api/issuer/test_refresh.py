"""Refresh tokens of the built-in issuer: issued with user sign-ins, rotated on each use, a reused one
revokes its whole family, and RFC 7009 revocation ends a sign-in."""

from __future__ import annotations

from sqlalchemy import func, select

from api.auth import TokenVerifier
from controlplane.persistence.database import make_engine
from controlplane.persistence.models import IssuerRefreshToken
from tests.support import issuer_flows as flows


def test_device_sign_in_gives_a_refresh_token_that_rotates(issuer):
    first = flows.device_tokens(issuer.http)
    assert first["refresh_token"] and first["expires_in"] == 3600
    assert first["refresh_expires_in"] == issuer.settings.issuer_refresh_token_seconds

    issuer.clock.advance(seconds=3700)  # the access token has expired: the refresh token still works
    response = flows.refresh(issuer.http, first["refresh_token"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    claims = flows.decode(issuer.http, second["access_token"])
    assert claims["sub"] == "amina" and claims["sahab_orgs"] == ["org_demo_agency:admin"]
    assert claims["iat"] == int(issuer.clock.now().timestamp())
    principal = TokenVerifier.from_settings(issuer.settings, clock=issuer.clock).verify(second["access_token"])
    assert principal.subject == "amina"

    third = flows.refresh(issuer.http, second["refresh_token"]).json()
    assert third["refresh_token"] not in {first["refresh_token"], second["refresh_token"]}


def test_reusing_a_rotated_refresh_token_revokes_the_family(issuer):
    first = flows.device_tokens(issuer.http)
    second = flows.refresh(issuer.http, first["refresh_token"]).json()

    reused = flows.refresh(issuer.http, first["refresh_token"])
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert "already used" in reused.json()["error_description"]
    # The thief or the owner holds the newer token: neither keeps the session.
    after = flows.refresh(issuer.http, second["refresh_token"])
    assert (after.status_code, after.json()["error"]) == (400, "invalid_grant")

    # Another sign-in of the same person is another family, untouched.
    other = flows.device_tokens(issuer.http)
    assert flows.refresh(issuer.http, other["refresh_token"]).status_code == 200


def test_refresh_refuses_other_clients_unknown_tokens_and_wider_scope(issuer):
    tokens = flows.device_tokens(issuer.http)
    assert flows.refresh(issuer.http, "no-such-token").json()["error"] == "invalid_grant"
    foreign = issuer.http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, auth=flows.PORTAL
    )
    assert (foreign.status_code, foreign.json()["error"]) == (400, "invalid_grant")
    wider = flows.refresh(issuer.http, tokens["refresh_token"], scope="openid sahab")
    assert (wider.status_code, wider.json()["error"]) == (400, "invalid_scope")
    narrower = flows.refresh(issuer.http, tokens["refresh_token"], scope="openid")
    assert narrower.status_code == 200 and narrower.json()["scope"] == "openid"


def test_client_credentials_get_no_refresh_token(issuer):
    body = issuer.http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=("agency-automation", "agency-automation-secret")
    ).json()
    assert "refresh_token" not in body


def test_refresh_tokens_expire_when_idle_and_with_the_session(serve_issuer):
    issuer = serve_issuer(issuer_refresh_token_seconds=3600, issuer_session_max_seconds=7200)
    idle = flows.device_tokens(issuer.http)
    issuer.clock.advance(seconds=3601)
    assert flows.refresh(issuer.http, idle["refresh_token"]).json()["error"] == "invalid_grant"

    tokens = flows.device_tokens(issuer.http)
    issuer.clock.advance(seconds=3000)  # used within its idle lifetime each time, but the sign-in ends after 2 h
    tokens = flows.refresh(issuer.http, tokens["refresh_token"]).json()
    issuer.clock.advance(seconds=3000)
    tokens = flows.refresh(issuer.http, tokens["refresh_token"]).json()
    assert tokens["refresh_expires_in"] == 1200  # what is left of the sign-in, not a full idle lifetime
    issuer.clock.advance(seconds=1201)
    assert flows.refresh(issuer.http, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_revocation_ends_the_sign_in(issuer):
    first = flows.device_tokens(issuer.http)
    second = flows.refresh(issuer.http, first["refresh_token"]).json()

    response = issuer.http.post(
        "/revoke", data={"token": second["refresh_token"], "token_type_hint": "refresh_token", "client_id": "sahab-cli"}
    )
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert flows.refresh(issuer.http, second["refresh_token"]).json()["error"] == "invalid_grant"

    # RFC 7009 2.2: an unknown token, or an access token (self-contained, it ends with its hour), answers 200.
    for token in ("no-such-token", second["access_token"]):
        assert issuer.http.post("/revoke", data={"token": token, "client_id": "sahab-cli"}).status_code == 200
    # Another client cannot revoke the CLI's sign-in, and is not told whether the token exists.
    third = flows.device_tokens(issuer.http)
    assert issuer.http.post("/revoke", data={"token": third["refresh_token"]}, auth=flows.PORTAL).status_code == 200
    assert flows.refresh(issuer.http, third["refresh_token"]).status_code == 200
    missing = issuer.http.post("/revoke", data={"client_id": "sahab-cli"})
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")


def test_refresh_tokens_are_stored_as_digests(issuer):
    tokens = flows.device_tokens(issuer.http)
    engine = make_engine(issuer.settings.database_url)
    try:
        with engine.connect() as connection:
            hashes = connection.scalars(select(IssuerRefreshToken.token_hash)).all()
            assert len(hashes) == 1 and tokens["refresh_token"] not in hashes[0]
            assert connection.scalar(select(func.count()).select_from(IssuerRefreshToken)) == 1
    finally:
        engine.dispose()
