"""TokenVerifier against real issuers over HTTP: what it accepts, what it refuses and why, how it caches keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from api.auth import TokenVerifier
from api.jose import JsonWebToken
from controlplane.domain.states import MemberRole, PlatformRole
from controlplane.errors import AuthenticationFailed, DependencyUnavailable
from controlplane.settings import Settings

AUDIENCE = "sahab"


def sign(
    key: Any, claims: dict[str, Any], *, kid: str | None = "k1", alg: str = "RS256", typ: str | None = None
) -> str:
    head = {"alg": alg}
    if kid is not None:
        head["kid"] = kid
    if typ is not None:
        head["typ"] = typ
    return JsonWebToken([alg]).encode(head, claims, key).decode("ascii")


def claims(key_host, clock, **changes: Any) -> dict[str, Any]:
    now = int(clock.now().timestamp())
    base = {"iss": key_host.url, "sub": "user-1", "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 300}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(AuthenticationFailed) as caught:
        verifier.verify(token)
    assert "Traceback" not in caught.value.detail
    return caught.value.detail


# ---------------------------------------------------------------- acceptance


@pytest.mark.parametrize("local_keys", [False, True], ids=["keys-over-http", "keys-from-data-dir"])
def test_accepts_builtin_issuer_client_credentials(builtin_issuer, local_keys):
    verifier = TokenVerifier.from_settings(builtin_issuer.settings, local_builtin_keys=local_keys)
    assert verifier.issuer == builtin_issuer.url  # empty oidc_issuer means the built-in one
    with httpx.Client(base_url=builtin_issuer.url) as http:
        agency = http.post(
            "/token", data={"grant_type": "client_credentials"}, auth=("agency-automation", "agency-automation-secret")
        ).json()["access_token"]
        operator = http.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=("operator-automation", "operator-automation-secret"),
        ).json()["access_token"]

    principal = verifier.verify(agency)
    assert principal.subject == "client:agency-automation"
    assert principal.issuer == builtin_issuer.url
    assert principal.name == "Agency automation"
    assert principal.platform_roles == frozenset()
    assert principal.claimed_organisations == {"org_demo_agency": MemberRole.ADMIN}

    staff = verifier.verify(operator)
    assert staff.subject == "client:operator-automation"
    assert staff.platform_roles == {PlatformRole.APPROVER, PlatformRole.OPERATOR}
    assert staff.is_approver and staff.is_operator and staff.claimed_organisations == {}
    assert verifier.fetch_count == (0 if local_keys else 1)


def test_builtin_keys_from_data_dir_refuse_other_keys(builtin_issuer, rsa_keys):
    verifier = TokenVerifier.from_settings(builtin_issuer.settings)
    now = int(time.time())
    body = {"iss": builtin_issuer.url, "sub": "mallory", "aud": AUDIENCE, "exp": now + 60}
    assert refused(verifier, sign(rsa_keys[0], body, kid="other")) == "unknown key id 'other'"
    real_kid = httpx.get(f"{builtin_issuer.url}/jwks").json()["keys"][0]["kid"]
    assert refused(verifier, sign(rsa_keys[0], body, kid=real_kid)) == "signature verification failed"
    assert verifier.fetch_count == 0


def test_maps_claims_to_principal(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    token = sign(
        rsa_keys[0],
        claims(
            key_host,
            clock,
            aud=["other", AUDIENCE],
            preferred_username="amina",
            email="amina@example.org",
            sahab_roles=["approver", "admin", 7],
            sahab_orgs=["org_a", "org_b:admin", "org_c:member", "org_d:owner", "org_a:admin", 3],
        ),
    )
    principal = verifier.verify(token)
    assert principal.subject == "user-1" and principal.issuer == key_host.url
    assert principal.name == "amina" and principal.email == "amina@example.org"
    assert principal.platform_roles == {PlatformRole.APPROVER}
    assert principal.claimed_organisations == {
        "org_a": MemberRole.ADMIN,
        "org_b": MemberRole.ADMIN,
        "org_c": MemberRole.MEMBER,
    }


def test_accepts_expiry_within_leeway(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    now = int(clock.now().timestamp())
    assert verifier.verify(sign(rsa_keys[0], claims(key_host, clock, exp=now - 10))).subject == "user-1"


# ---------------------------------------------------------------- refusals


def test_refuses_bad_signature_from_another_key_with_the_same_kid(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    forged = sign(rsa_keys[1], claims(key_host, clock), kid="k1")
    assert refused(verifier, forged) == "signature verification failed"


def test_refuses_tampered_payload(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    header, _, signature = sign(rsa_keys[0], claims(key_host, clock)).split(".")
    payload = b64(json.dumps(claims(key_host, clock, sub="admin")).encode())
    assert refused(verifier, f"{header}.{payload}.{signature}") == "signature verification failed"


def test_refuses_wrong_issuer(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    token = sign(rsa_keys[0], claims(key_host, clock, iss="https://evil.example"))
    assert (
        refused(verifier, token) == f"token issuer 'https://evil.example' is not the configured issuer '{key_host.url}'"
    )


def test_refuses_wrong_audience(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    assert (
        refused(verifier, sign(rsa_keys[0], claims(key_host, clock, aud="other")))
        == "token audience 'other' does not include 'sahab'"
    )
    assert (
        refused(verifier, sign(rsa_keys[0], claims(key_host, clock, aud=None)))
        == "token audience None does not include 'sahab'"
    )


def test_refuses_expired(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    now = int(clock.now().timestamp())
    assert refused(verifier, sign(rsa_keys[0], claims(key_host, clock, exp=now - 31))) == "token expired"
    token = sign(rsa_keys[0], claims(key_host, clock))
    clock.advance(seconds=400)
    assert refused(verifier, token) == "token expired"


def test_refuses_missing_exp(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    assert refused(verifier, sign(rsa_keys[0], claims(key_host, clock, exp=None))) == "token has no expiry (exp)"


def test_refuses_missing_sub(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    assert refused(verifier, sign(rsa_keys[0], claims(key_host, clock, sub=None))) == "token has no subject (sub)"
    assert refused(verifier, sign(rsa_keys[0], claims(key_host, clock, sub=""))) == "token has no subject (sub)"


def test_refuses_not_yet_valid(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    now = int(clock.now().timestamp())
    assert refused(verifier, sign(rsa_keys[0], claims(key_host, clock, nbf=now + 120))) == "token not valid yet (nbf)"


def test_refuses_alg_none_before_touching_keys(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    header = b64(json.dumps({"alg": "none", "kid": "k1"}).encode())
    payload = b64(json.dumps(claims(key_host, clock)).encode())
    detail = refused(verifier, f"{header}.{payload}.")
    assert detail.startswith("token algorithm none is not allowed")
    assert key_host.jwks_fetches == 0  # refused before any key lookup


def test_refuses_hs256_signed_with_the_public_key(verifier, key_host, clock, rsa_keys):
    """Algorithm confusion: the RSA public key (PEM, or its JWK) used as an HMAC secret."""
    key_host.publish("k1", rsa_keys[0])
    public_pem = rsa_keys[0].as_pem(is_private=False)
    header = b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims(key_host, clock, sub="admin")).encode())
    for secret in (public_pem, json.dumps(key_host.jwks()["keys"][0]).encode()):
        signature = b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        detail = refused(verifier, f"{header}.{payload}.{signature}")
        assert detail.startswith("token algorithm HS256 is not allowed")
    assert key_host.jwks_fetches == 0


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "malformed token: empty"),
        ("garbage", "malformed token: expected a signed JWT (three dot-separated parts)"),
        ("a.b.c.d.e", "malformed token: expected a signed JWT (three dot-separated parts)"),
        ("!!!.e30.sig", "malformed token: the header is not base64url-encoded JSON"),
        (b64(b"[1]") + ".e30.sig", "malformed token: the header is not a JSON object"),
        (b64(b'{"typ":"JWT"}') + ".e30.sig", "token header has no algorithm (alg)"),
        ("x" * 20000, "malformed token: longer than 16384 bytes"),
    ],
)
def test_refuses_garbage(verifier, token, message):
    assert refused(verifier, token) == message


def test_refuses_garbage_payload_with_valid_header(verifier, key_host, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    header = b64(json.dumps({"alg": "RS256", "kid": "k1"}).encode())
    assert refused(verifier, f"{header}.not-json.AAAA") == "malformed token: invalid payload value"
    assert refused(verifier, f"{header}.e30.AAAA") == "signature verification failed"


def test_refuses_algorithm_not_allowed_even_if_asymmetric(key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    verifier = TokenVerifier(issuer=key_host.url, audience=AUDIENCE, algorithms=["ES256"], clock=clock)
    assert (
        refused(verifier, sign(rsa_keys[0], claims(key_host, clock)))
        == "token algorithm RS256 is not allowed (allowed: ES256)"
    )


def test_symmetric_algorithms_cannot_be_configured(key_host):
    with pytest.raises(ValueError):
        TokenVerifier(issuer=key_host.url, audience=AUDIENCE, algorithms=["RS256", "HS256"])
    with pytest.raises(ValueError):
        TokenVerifier(issuer=key_host.url, audience=AUDIENCE, algorithms=["none"])


# ---------------------------------------------------------------- keys: cache, rotation, outages


def test_jwks_fetched_once_and_cached(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    for i in range(25):
        assert verifier.verify(sign(rsa_keys[0], claims(key_host, clock, sub=f"user-{i}"))).subject == f"user-{i}"
    assert (key_host.discovery_fetches, key_host.jwks_fetches, verifier.fetch_count) == (1, 1, 1)

    clock.advance(seconds=3601)  # cache expiry: fetched again, once
    for _ in range(5):
        verifier.verify(sign(rsa_keys[0], claims(key_host, clock)))
    assert key_host.jwks_fetches == 2


def test_key_rotation_triggers_exactly_one_refetch(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    verifier.verify(sign(rsa_keys[0], claims(key_host, clock)))
    assert key_host.jwks_fetches == 1

    clock.advance(seconds=11)
    key_host.publish("k2", rsa_keys[1])  # the issuer rotates
    for _ in range(5):
        assert verifier.verify(sign(rsa_keys[1], claims(key_host, clock), kid="k2")).subject == "user-1"
    assert key_host.jwks_fetches == 2
    verifier.verify(sign(rsa_keys[0], claims(key_host, clock), kid="k1"))  # the old key still works
    assert key_host.jwks_fetches == 2


def test_unknown_kids_refetch_at_most_once_per_interval(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    verifier.verify(sign(rsa_keys[0], claims(key_host, clock)))
    clock.advance(seconds=11)
    for i in range(20):  # kid spraying
        assert (
            refused(verifier, sign(rsa_keys[2], claims(key_host, clock), kid=f"spray-{i}"))
            == f"unknown key id 'spray-{i}'"
        )
    assert key_host.jwks_fetches == 2  # one refetch for the first unknown kid, none for the rest

    key_host.publish("k3", rsa_keys[2])  # published, but within 10 s of the last fetch
    assert refused(verifier, sign(rsa_keys[2], claims(key_host, clock), kid="k3")) == "unknown key id 'k3'"
    clock.advance(seconds=10)
    assert verifier.verify(sign(rsa_keys[2], claims(key_host, clock), kid="k3")).subject == "user-1"
    assert key_host.jwks_fetches == 3


def test_token_without_kid_uses_the_only_key(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    assert verifier.verify(sign(rsa_keys[0], claims(key_host, clock), kid=None)).subject == "user-1"
    key_host.publish("k2", rsa_keys[1])
    clock.advance(seconds=3601)
    assert (
        refused(verifier, sign(rsa_keys[0], claims(key_host, clock), kid=None))
        == "token has no key id (kid) and the issuer publishes several keys"
    )


def test_concurrent_verifications_share_one_fetch(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    token = sign(rsa_keys[0], claims(key_host, clock))
    results: list[Any] = []
    barrier = threading.Barrier(16)

    def work() -> None:
        barrier.wait()
        try:
            results.append(verifier.verify(token).subject)
        except Exception as exc:  # noqa: BLE001
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["user-1"] * 16
    assert key_host.jwks_fetches == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_issuer_unreachable_is_a_dependency_failure(clock, rsa_keys):
    issuer = f"http://127.0.0.1:{_closed_port()}/idp"
    verifier = TokenVerifier(issuer=issuer, audience=AUDIENCE, algorithms=["RS256"], clock=clock, http_timeout=2)
    now = int(clock.now().timestamp())
    token = sign(rsa_keys[0], {"iss": issuer, "sub": "u", "aud": AUDIENCE, "exp": now + 60})
    with pytest.raises(DependencyUnavailable) as caught:
        verifier.verify(token)
    assert caught.value.detail.startswith("issuer unreachable: cannot fetch the discovery document from ")
    assert "ConnectError" in caught.value.detail


def test_issuer_jwks_error_is_a_dependency_failure(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    key_host.jwks_status = 500
    with pytest.raises(DependencyUnavailable) as caught:
        verifier.verify(sign(rsa_keys[0], claims(key_host, clock)))
    assert caught.value.detail == f"issuer unreachable: the JWKS at {key_host.url}/keys answered HTTP 500"

    key_host.jwks_status = 200  # the issuer recovers; after a short back-off the verifier does too
    clock.advance(seconds=3)
    assert verifier.verify(sign(rsa_keys[0], claims(key_host, clock))).subject == "user-1"


def test_from_settings_uses_configured_issuer_and_claims(key_host, tmp_path):
    settings = Settings(
        public_url="http://127.0.0.1:9",
        data_dir=tmp_path,
        oidc_issuer=key_host.url,
        oidc_audience="api://sahab",
        oidc_algorithms=["ES256"],
        oidc_roles_claim="roles",
        oidc_orgs_claim="orgs",
        oidc_jwks_cache_seconds=60,
    )
    verifier = TokenVerifier.from_settings(settings)
    assert (verifier.issuer, verifier.audience, verifier.algorithms) == (key_host.url, "api://sahab", {"ES256"})
    assert (verifier.roles_claim, verifier.orgs_claim, verifier.jwks_cache_seconds) == ("roles", "orgs", 60)


# ---------------------------------------------------------------- access tokens, not ID tokens (RFC 9068)


@pytest.mark.parametrize(
    "evidence",
    [{"nonce": "n-1"}, {"at_hash": "abc"}, {"c_hash": "abc"}, {"nonce": "n", "at_hash": "h"}, {"typ": "ID"}],
    ids=["nonce", "at_hash", "c_hash", "both", "keycloak-typ-ID"],
)
@pytest.mark.parametrize("typ", [None, "JWT"], ids=["untyped", "typ-JWT"])
def test_refuses_evident_id_tokens(verifier, key_host, clock, rsa_keys, evidence, typ):
    key_host.publish("k1", rsa_keys[0])
    detail = refused(verifier, sign(rsa_keys[0], claims(key_host, clock, **evidence), typ=typ))
    assert detail.startswith("an ID token is not an access token")


@pytest.mark.parametrize("typ", ["id_token+jwt", "logout+jwt", "dpop+jwt", "secevent+jwt"])
def test_refuses_tokens_typed_as_something_else(verifier, key_host, clock, rsa_keys, typ):
    key_host.publish("k1", rsa_keys[0])
    assert (
        refused(verifier, sign(rsa_keys[0], claims(key_host, clock), typ=typ))
        == f"token type {typ!r} is not an access token (expected at+jwt, RFC 9068)"
    )


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
def test_accepts_rfc9068_access_tokens(verifier, key_host, clock, rsa_keys, typ):
    key_host.publish("k1", rsa_keys[0])
    assert verifier.verify(sign(rsa_keys[0], claims(key_host, clock), typ=typ)).subject == "user-1"


def test_accepts_untyped_access_tokens_by_default(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    assert (
        verifier.verify(sign(rsa_keys[0], claims(key_host, clock, scope="openid", auth_time=1), typ="JWT")).subject
        == "user-1"
    )


def test_require_at_jwt_refuses_untyped_tokens(key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    strict = TokenVerifier(
        issuer=key_host.url, audience=AUDIENCE, algorithms=["RS256"], clock=clock, require_at_jwt=True
    )
    assert strict.verify(sign(rsa_keys[0], claims(key_host, clock), typ="at+jwt")).subject == "user-1"
    for typ in ("JWT", None):
        assert "must say typ at+jwt" in refused(strict, sign(rsa_keys[0], claims(key_host, clock), typ=typ))


def test_the_policy_is_a_setting_and_the_builtin_issuer_is_strict(key_host, builtin_issuer, tmp_path):
    external = Settings(public_url="http://127.0.0.1:9", data_dir=tmp_path, oidc_issuer=key_host.url)
    assert not TokenVerifier.from_settings(external).require_at_jwt
    assert TokenVerifier.from_settings(external.model_copy(update={"oidc_require_at_jwt": True})).require_at_jwt
    assert TokenVerifier.from_settings(builtin_issuer.settings).require_at_jwt


def test_refuses_a_subject_longer_than_255_characters(verifier, key_host, clock, rsa_keys):
    key_host.publish("k1", rsa_keys[0])
    assert verifier.verify(sign(rsa_keys[0], claims(key_host, clock, sub="s" * 255))).subject == "s" * 255
    assert (
        refused(verifier, sign(rsa_keys[0], claims(key_host, clock, sub="s" * 256)))
        == "token subject (sub) is longer than 255 characters"
    )


# ---------------------------------------------------------------- stale-while-error


def refresh_failures() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("sahab_jwks_refresh_failures_total") or 0.0


def test_known_keys_keep_verifying_while_the_issuer_fails_within_the_bound(key_host, clock, rsa_keys):
    verifier = TokenVerifier(
        issuer=key_host.url,
        audience=AUDIENCE,
        algorithms=["RS256"],
        clock=clock,
        jwks_cache_seconds=3600,
        jwks_stale_seconds=7200,
    )
    key_host.publish("k1", rsa_keys[0])
    verifier.verify(sign(rsa_keys[0], claims(key_host, clock)))
    failures = refresh_failures()

    key_host.jwks_status = 500  # an IdP blip, after the cache expired
    clock.advance(seconds=3601)
    assert verifier.verify(sign(rsa_keys[0], claims(key_host, clock))).subject == "user-1"
    clock.advance(seconds=3)
    assert verifier.verify(sign(rsa_keys[0], claims(key_host, clock))).subject == "user-1"
    assert refresh_failures() == failures + 2  # every failed fetch is counted
    with pytest.raises(DependencyUnavailable):  # a key it has never seen still needs the issuer
        clock.advance(seconds=11)
        verifier.verify(sign(rsa_keys[1], claims(key_host, clock), kid="k-new"))

    clock.advance(seconds=7200)  # past the bound: no more stale keys
    with pytest.raises(DependencyUnavailable):
        verifier.verify(sign(rsa_keys[0], claims(key_host, clock)))

    key_host.jwks_status = 200
    clock.advance(seconds=3)
    assert verifier.verify(sign(rsa_keys[0], claims(key_host, clock))).subject == "user-1"


def test_no_stale_keys_when_the_bound_is_zero(key_host, clock, rsa_keys):
    verifier = TokenVerifier(
        issuer=key_host.url,
        audience=AUDIENCE,
        algorithms=["RS256"],
        clock=clock,
        jwks_cache_seconds=3600,
        jwks_stale_seconds=0,
    )
    key_host.publish("k1", rsa_keys[0])
    verifier.verify(sign(rsa_keys[0], claims(key_host, clock)))
    key_host.jwks_status = 500
    clock.advance(seconds=3601)
    with pytest.raises(DependencyUnavailable):
        verifier.verify(sign(rsa_keys[0], claims(key_host, clock)))
