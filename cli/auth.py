"""Getting and keeping an access token: device authorization grant (people),
client credentials (automation), and claims decoded locally for `whoami`."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from cli import config, errors
from cli.client import Api, decode, transport_error
from cli.errors import CliError

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5


def discover(api_url: str) -> dict[str, Any]:
    """GET {api}/v1/meta, then the issuer's OIDC discovery document; both merged under meta/oidc."""
    with Api(api_url) as api:
        meta = api.get("/v1/meta", auth=False)
    issuer = str(meta.get("issuer", "")).rstrip("/")
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=15)
    except httpx.HTTPError as error:
        raise transport_error(issuer, error) from None
    if not response.is_success:
        raise CliError("Identity provider discovery failed", f"GET {url} answered {response.status_code}",
                       exit_code=errors.UNAVAILABLE)
    return {"meta": meta, "oidc": response.json()}


def _oauth_error(response: httpx.Response) -> tuple[str, str]:
    body = decode(response)
    if isinstance(body, dict):
        return str(body.get("error", "")), str(body.get("error_description", ""))
    return "", str(body)[:200]


def _credentials_from(token: dict[str, Any], grant: str, api_url: str, client_id: str | None) -> config.Credentials:
    claims = decode_claims(token["access_token"])
    expires_at = claims.get("exp") or (time.time() + float(token.get("expires_in", 3600)))
    return config.Credentials(access_token=token["access_token"], expires_at=float(expires_at), grant=grant,
                              api_url=api_url, client_id=client_id)


def client_credentials(api_url: str, client_id: str, client_secret: str) -> config.Credentials:
    endpoint = discover(api_url)["oidc"]["token_endpoint"]
    try:
        response = httpx.post(endpoint, data={"grant_type": "client_credentials"}, auth=(client_id, client_secret), timeout=15)
    except httpx.HTTPError as error:
        raise transport_error(endpoint, error) from None
    if not response.is_success:
        code, description = _oauth_error(response)
        raise CliError("Login failed", f"{code}: {description}" if code else description, exit_code=errors.NOT_AUTHENTICATED)
    return _credentials_from(response.json(), "client_credentials", api_url, client_id)


def device_login(api_url: str, show: Callable[[dict[str, Any]], None], waiting: Callable[[], Any],
                 sleep: Callable[[float], None] = time.sleep) -> config.Credentials:
    """RFC 8628: start a grant, show the code, poll the token endpoint honouring interval and slow_down."""
    found = discover(api_url)
    client_id = found["meta"].get("cli_client_id") or "sahab-cli"
    oidc = found["oidc"]
    start_url = oidc.get("device_authorization_endpoint")
    if not start_url:
        raise CliError("Login failed", "the identity provider offers no device authorization endpoint",
                       exit_code=errors.NOT_AUTHENTICATED)
    try:
        response = httpx.post(start_url, data={"client_id": client_id, "scope": "openid profile email"}, timeout=15)
    except httpx.HTTPError as error:
        raise transport_error(start_url, error) from None
    if not response.is_success:
        code, description = _oauth_error(response)
        raise CliError("Login failed", f"{code}: {description}", exit_code=errors.NOT_AUTHENTICATED)
    grant = response.json()
    show(grant)
    interval = float(grant.get("interval") or 5)
    deadline = time.monotonic() + float(grant.get("expires_in") or 600)
    with waiting():
        while time.monotonic() < deadline:
            sleep(interval)
            try:
                response = httpx.post(oidc["token_endpoint"], timeout=15, data={
                    "grant_type": DEVICE_CODE_GRANT, "device_code": grant["device_code"], "client_id": client_id})
            except httpx.HTTPError as error:
                raise transport_error(oidc["token_endpoint"], error) from None
            if response.is_success:
                return _credentials_from(response.json(), "device_code", api_url, client_id)
            code, description = _oauth_error(response)
            if code == "authorization_pending":
                continue
            if code == "slow_down":
                body = decode(response)
                suggested = body.get("interval") if isinstance(body, dict) else None
                interval = max(float(suggested or 0), interval + SLOW_DOWN_STEP)
                continue
            raise CliError("Login failed", f"{code}: {description}" if code else description,
                           exit_code=errors.NOT_AUTHENTICATED)
    raise CliError("Login failed", "the device code expired before the sign-in was approved; run `sahab login` again",
                   exit_code=errors.NOT_AUTHENTICATED)


def env_client() -> tuple[str, str] | None:
    client_id, secret = os.environ.get("SAHAB_CLIENT_ID"), os.environ.get("SAHAB_CLIENT_SECRET")
    return (client_id, secret) if client_id and secret else None


def token_provider(api_url: str) -> Callable[[], str]:
    """A callable giving a usable access token, fetched lazily (commands that fail on flags never need one)."""
    cached: list[str] = []

    def provide() -> str:
        if not cached:
            cached.append(current_token(api_url))
        return cached[0]

    return provide


def current_token(api_url: str) -> str:
    stored = config.load_credentials()
    env = env_client()
    if env is not None:
        if stored and stored.grant == "client_credentials" and stored.client_id == env[0] and not stored.expired():
            return stored.access_token
        fresh = client_credentials(api_url, *env)
        config.save_credentials(fresh)
        return fresh.access_token
    if stored is None:
        raise errors.not_authenticated()
    if stored.expired():
        how = "client credentials; set SAHAB_CLIENT_ID and SAHAB_CLIENT_SECRET or " if stored.grant == "client_credentials" else ""
        raise errors.not_authenticated(f"the stored token expired; {how}run `sahab login`")
    return stored.access_token


def decode_claims(token: str) -> dict[str, Any]:
    """The JWT payload, not verified (the API verifies; this is for display and expiry)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        raise CliError("Not authenticated", "the stored token is not a JWT; run `sahab login`",
                       exit_code=errors.NOT_AUTHENTICATED) from None
    return claims if isinstance(claims, dict) else {}
