"""The built-in OIDC issuer: the identity provider `./dev run` uses when no external one is set.

Mounted by the main API at /issuer, so its public base URL (and the `iss` of
every token it signs) is settings.builtin_issuer_url. It serves OIDC discovery,
its public key set, the device authorization grant (RFC 8628) for the CLI and
the client-credentials grant for automation, for the demo accounts of
api/issuer/accounts.py only.

It is meant for one API process: device grants live in process memory. The
signing key is persisted under settings.data_dir and shared by every process.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any
from urllib.parse import quote, unquote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from api.auth._jose import JsonWebToken
from api.issuer import pages
from api.issuer.accounts import Accounts, DemoClient, DemoUser
from api.issuer.device import (
    EXPIRES_IN,
    DeviceGrantStore,
    PollOutcome,
    format_user_code,
)
from api.issuer.keys import DEFAULT_ALG, load_or_create_signing_key, public_jwk
from controlplane.clock import Clock, SystemClock
from controlplane.settings import Settings

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CLIENT_CREDENTIALS_GRANT = "client_credentials"
TOKEN_LIFETIME = 3600
DEFAULT_SCOPE = "openid profile email"

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_error(
    error: str, description: str, status: int = 400, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """An RFC 6749 5.2 error response."""
    return JSONResponse(
        {"error": error, "error_description": description, **extra},
        status_code=status,
        headers={**_NO_STORE, **(headers or {})},
    )


class _Issuer:
    """State shared by the routes of one issuer application."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.url = settings.builtin_issuer_url
        self.accounts = Accounts.from_settings(settings)
        self.key = load_or_create_signing_key(settings.data_dir)
        private = self.key.as_dict(is_private=True)
        self.kid: str = private["kid"]
        self.alg: str = private.get("alg", DEFAULT_ALG)
        self.jwt = JsonWebToken([self.alg])
        self.grants = DeviceGrantStore(clock)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "token_endpoint": f"{self.url}/token",
            "device_authorization_endpoint": f"{self.url}/device_authorization",
            "grant_types_supported": [CLIENT_CREDENTIALS_GRANT, DEVICE_CODE_GRANT],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.alg],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": ["openid", "profile", "email"],
            "claims_supported": [
                "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "name", "email", "preferred_username",
                "client_id", "scope", self.settings.oidc_roles_claim, self.settings.oidc_orgs_claim,
            ],
        }

    def issue(self, *, subject: str, client_id: str, scope: str, name: str, email: str | None,
              roles: tuple[str, ...], orgs: tuple[str, ...], username: str | None = None) -> dict[str, Any]:
        now = int(self.clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": subject,
            "aud": self.settings.oidc_audience,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "jti": secrets.token_urlsafe(16),
            "client_id": client_id,
            "scope": scope,
            "name": name,
            self.settings.oidc_roles_claim: list(roles),
            self.settings.oidc_orgs_claim: list(orgs),
        }
        if email:
            claims["email"] = email
        if username:
            claims["preferred_username"] = username
        header = {"alg": self.alg, "kid": self.kid, "typ": "at+jwt"}
        token = self.jwt.encode(header, claims, self.key).decode("ascii")
        return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "scope": scope}

    def token_for_client(self, client: DemoClient, scope: str) -> dict[str, Any]:
        return self.issue(subject=client.subject, client_id=client.client_id, scope=scope, name=client.name,
                          email=None, roles=client.roles, orgs=client.orgs)

    def token_for_user(self, user: DemoUser, client_id: str, scope: str) -> dict[str, Any]:
        return self.issue(subject=user.subject, client_id=client_id, scope=scope, name=user.name,
                          email=user.email, roles=user.roles, orgs=user.orgs, username=user.username)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """RFC 6749 2.3.1: client_id and secret, form-urlencoded, then base64 in an Authorization: Basic header."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return ("", "")
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def create_issuer(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    """The issuer as an ASGI sub-application, to be mounted at /issuer on the main API."""
    issuer = _Issuer(settings, clock or SystemClock())
    app = FastAPI(title="Sahab built-in issuer", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.issuer = issuer

    @app.get("/.well-known/openid-configuration")
    def discovery() -> JSONResponse:
        return JSONResponse(issuer.discovery(), headers={"Cache-Control": "public, max-age=300"})

    @app.get("/jwks")
    def jwks() -> JSONResponse:
        return JSONResponse({"keys": [public_jwk(issuer.key)]}, headers={"Cache-Control": "public, max-age=300"})

    @app.post("/device_authorization")
    async def device_authorization(request: Request) -> JSONResponse:
        form = await _form(request)
        client_id = form.get("client_id", "")
        if not client_id:
            return oauth_error("invalid_request", "client_id is required (form-encoded)")
        if client_id not in issuer.accounts.public_clients:
            return oauth_error("invalid_client", f"unknown client {client_id!r}", 401)
        try:
            grant = issuer.grants.start(client_id, form.get("scope") or DEFAULT_SCOPE)
        except OverflowError:
            return oauth_error("slow_down", "too many pending sign-ins; try again later", 429)
        user_code = format_user_code(grant.user_code)
        verification_uri = f"{issuer.url}/device"
        return JSONResponse(
            {
                "device_code": grant.device_code,
                "user_code": user_code,
                "verification_uri": verification_uri,
                "verification_uri_complete": f"{verification_uri}?user_code={quote(user_code)}",
                "expires_in": EXPIRES_IN,
                "interval": grant.interval,
            },
            headers=_NO_STORE,
        )

    @app.get("/device", response_class=HTMLResponse)
    def device_page(user_code: str = "") -> HTMLResponse:
        return pages.device_form(user_code=user_code)

    @app.post("/device", response_class=HTMLResponse)
    async def device_decide(request: Request) -> HTMLResponse:
        form = await _form(request)
        user_code = form.get("user_code", "").strip()
        username = form.get("username", "").strip()
        password = form.get("password", "")
        action = form.get("action", "approve")
        if not user_code:
            return pages.device_form(error="Enter the code shown by the CLI.", status=400)
        grant = issuer.grants.pending(user_code)
        if grant is None:
            return pages.device_form(
                user_code=user_code, username=username, status=400,
                error="This code is unknown, expired or already used. Start the sign-in again from the CLI.",
            )
        if action == "deny":
            issuer.grants.decide(user_code, None)
            return pages.done("Sign-in refused", "The device was not signed in. You can close this page.")
        if action != "approve":
            return pages.device_form(user_code=user_code, username=username, status=400, error="Unknown action.")
        user = issuer.accounts.authenticate_user(username, password)
        if user is None:
            return pages.device_form(user_code=user_code, username=username, status=401,
                                     error="Wrong username or password.")
        if issuer.grants.decide(user_code, user) is None:
            return pages.device_form(user_code=user_code, username=username, status=400,
                                     error="This code expired or was used meanwhile. Start the sign-in again.")
        return pages.done("Device signed in",
                          f"Signed in as {user.name}. Return to your terminal; you can close this page.")

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        form = await _form(request)
        grant_type = form.get("grant_type", "")
        if not grant_type:
            return oauth_error("invalid_request", "grant_type is required (form-encoded)")
        if grant_type == CLIENT_CREDENTIALS_GRANT:
            return _client_credentials(request, form)
        if grant_type == DEVICE_CODE_GRANT:
            return _device_code(form)
        return oauth_error("unsupported_grant_type", f"grant type {grant_type!r} is not supported")

    def _client_credentials(request: Request, form: dict[str, str]) -> JSONResponse:
        basic = _basic_credentials(request)
        if basic is not None and ("client_secret" in form):
            return oauth_error("invalid_request", "use one client authentication method, not two")
        client_id, secret = basic if basic is not None else (form.get("client_id", ""), form.get("client_secret", ""))
        challenge = {"WWW-Authenticate": 'Basic realm="sahab-issuer"'} if basic is not None else None
        if not client_id or not secret:
            return oauth_error("invalid_client", "client authentication is required", 401,
                               {"WWW-Authenticate": 'Basic realm="sahab-issuer"'})
        client = issuer.accounts.authenticate_client(client_id, secret)
        if client is None:
            return oauth_error("invalid_client", "unknown client or wrong client secret", 401, challenge)
        return JSONResponse(issuer.token_for_client(client, form.get("scope") or DEFAULT_SCOPE), headers=_NO_STORE)

    def _device_code(form: dict[str, str]) -> JSONResponse:
        client_id = form.get("client_id", "")
        device_code = form.get("device_code", "")
        if not client_id or not device_code:
            return oauth_error("invalid_request", "device_code and client_id are required")
        if client_id not in issuer.accounts.public_clients:
            return oauth_error("invalid_client", f"unknown client {client_id!r}", 401)
        outcome, grant = issuer.grants.poll(device_code, client_id)
        if outcome is PollOutcome.APPROVED and grant is not None and grant.user is not None:
            return JSONResponse(issuer.token_for_user(grant.user, client_id, grant.scope), headers=_NO_STORE)
        descriptions = {
            PollOutcome.PENDING: "the user has not approved the sign-in yet",
            PollOutcome.SLOW_DOWN: f"polling too fast; wait {grant.interval if grant else 0} s between polls",
            PollOutcome.EXPIRED: "the device code expired; start the sign-in again",
            PollOutcome.DENIED: "the user refused the sign-in",
            PollOutcome.UNKNOWN: "unknown, used or foreign device code",
        }
        extra = {"interval": grant.interval} if outcome is PollOutcome.SLOW_DOWN and grant else {}
        return oauth_error(outcome.value, descriptions[outcome], **extra)

    return app

