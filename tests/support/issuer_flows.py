"""The built-in issuer's flows as a client drives them over HTTP (device flow, PKCE, refresh), for tests."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from api.jose import JsonWebKey, JsonWebToken

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CLI = "sahab-cli"
PORTAL = ("sahab-portal", "sahab-portal-secret")


def decode(http: httpx.Client, token: str) -> dict[str, Any]:
    jwks = http.get("/jwks").json()
    return dict(JsonWebToken(["RS256"]).decode(token, JsonWebKey.import_key_set(jwks)))


def start_device(http: httpx.Client, **data: str) -> dict[str, Any]:
    response = http.post("/device_authorization", data={"client_id": CLI, **data})
    assert response.status_code == 200, response.text
    return dict(response.json())


def poll(http: httpx.Client, device_code: str, client_id: str = CLI) -> httpx.Response:
    return http.post("/token", data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id})


def decide(
    http: httpx.Client, user_code: str, username: str = "amina", password: str = "amina-demo", action: str = "approve"
) -> httpx.Response:
    return http.post(
        "/device", data={"user_code": user_code, "username": username, "password": password, "action": action}
    )


def device_tokens(http: httpx.Client, username: str = "amina", password: str = "amina-demo") -> dict[str, Any]:
    """A whole device sign-in: start, approve, one poll."""
    started = start_device(http)
    assert decide(http, started["user_code"], username, password).status_code == 200
    response = poll(http, started["device_code"])
    assert response.status_code == 200, response.text
    return dict(response.json())


def refresh(http: httpx.Client, refresh_token: str, client_id: str = CLI, **extra: str) -> httpx.Response:
    return http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, **extra}
    )


def pkce() -> tuple[str, str]:
    """(code_verifier, its S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def redirect_params(response: httpx.Response) -> dict[str, str]:
    """The query parameters of a 302 back to the client."""
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
