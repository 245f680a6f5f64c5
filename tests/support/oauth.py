"""A small conforming OAuth 2 / OIDC issuer for client tests, served over HTTP on loopback.

It speaks the standard forms only, as any identity provider would: the device
authorization grant (RFC 8628), the refresh_token grant with rotation (RFC 6749
section 6; a rotated-away refresh token redeemed again ends its whole family, as
reuse detection does), and token revocation (RFC 7009). Access tokens are RS256
JWTs (`typ: at+jwt`, RFC 9068) verified by Sahab's real verifier through
discovery and JWKS. Device grants are approved by `approve()`, as a person at the
verification page would."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from authlib.jose import JsonWebKey, jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.identity import ServerThread

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class RefreshGrant:
    subject: str
    client_id: str
    family: str
    claims: dict[str, Any]
    active: bool = True


@dataclass
class OAuthIssuer:
    """Start with `with OAuthIssuer(...) as issuer:`. `calls` records every token and revocation form."""

    __test__ = False
    client_id: str = "sahab-cli"
    audience: str = "sahab"
    access_lifetime: int = 600
    rotate: bool = True
    revocation: bool = True  # read at each request: a test may switch it
    auto_approve: str | None = None  # a subject who approves every device grant at once
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "oauth-test-1"})
        self._lock = threading.Lock()
        self._devices: dict[str, dict[str, Any]] = {}  # device_code -> grant
        self._refresh: dict[str, RefreshGrant] = {}
        self._revoked_families: set[str] = set()
        routes = [
            Route("/.well-known/openid-configuration", self._discovery),
            Route("/jwks", self._jwks),
            Route("/device_authorization", self._device_authorization, methods=["POST"]),
            Route("/token", self._token, methods=["POST"]),
            Route("/revoke", self._revoke, methods=["POST"]),
        ]
        self.server = ServerThread(Starlette(routes=routes))

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> OAuthIssuer:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    # What a test does as the person, or checks afterwards.

    def approve(self, user_code: str, subject: str, **claims: Any) -> None:
        with self._lock:
            grant = next(g for g in self._devices.values() if g["user_code"] == user_code)
            grant.update(subject=subject, claims=claims)

    def access_token(self, subject: str, lifetime: int | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": self.url,
            "sub": subject,
            "aud": self.audience,
            "iat": now,
            "exp": now + (self.access_lifetime if lifetime is None else lifetime),
            "jti": uuid.uuid4().hex,
            "client_id": self.client_id,
            "name": subject.title(),
            **claims,
        }
        header = {"alg": "RS256", "typ": "at+jwt", "kid": self.key.as_dict()["kid"]}
        return jwt.encode(header, payload, self.key).decode()

    def refresh_token_for(self, subject: str, **claims: Any) -> str:
        """A refresh token of a new family, as a completed sign-in would hand out."""
        return self._new_refresh(RefreshGrant(subject, self.client_id, uuid.uuid4().hex, claims))

    def refresh_is_active(self, token: str) -> bool:
        grant = self._refresh.get(token)
        return bool(grant and grant.active and grant.family not in self._revoked_families)

    def grants(self, grant_type: str) -> list[dict[str, str]]:
        return [form for kind, form in self.calls if kind == "token" and form.get("grant_type") == grant_type]

    def revocations(self) -> list[dict[str, str]]:
        return [form for kind, form in self.calls if kind == "revoke"]

    # The endpoints.

    def _new_refresh(self, grant: RefreshGrant) -> str:
        token = secrets.token_urlsafe(32)
        self._refresh[token] = grant
        return token

    def _tokens(self, grant: RefreshGrant) -> dict[str, Any]:
        return {
            "access_token": self.access_token(grant.subject, **grant.claims),
            "token_type": "Bearer",
            "expires_in": self.access_lifetime,
            "refresh_token": self._new_refresh(grant),
            "scope": "openid",
        }

    async def _discovery(self, _request: Request) -> JSONResponse:
        document = {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "token_endpoint": f"{self.url}/token",
            "device_authorization_endpoint": f"{self.url}/device_authorization",
            "grant_types_supported": [DEVICE_CODE_GRANT, "refresh_token"],
        }
        if self.revocation:
            document["revocation_endpoint"] = f"{self.url}/revoke"
        return JSONResponse(document)

    async def _jwks(self, _request: Request) -> JSONResponse:
        return JSONResponse({"keys": [self.key.as_dict(is_private=False)]})

    async def _device_authorization(self, request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if form.get("client_id") != self.client_id:
            return _oauth_error("invalid_client", "unknown client", 401)
        device_code, user_code = secrets.token_urlsafe(24), secrets.token_hex(4).upper()
        with self._lock:
            self._devices[device_code] = {"user_code": user_code, "subject": self.auto_approve, "claims": {}}
        return JSONResponse(
            {
                "device_code": device_code,
                "user_code": user_code,
                "interval": 1,
                "expires_in": 60,
                "verification_uri": f"{self.url}/device",
            }
        )

    async def _token(self, request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        with self._lock:
            self.calls.append(("token", form))
            if form.get("client_id") != self.client_id:
                return _oauth_error("invalid_client", "a public client identifies itself by client_id", 401)
            if form.get("grant_type") == DEVICE_CODE_GRANT:
                device = self._devices.get(form.get("device_code", ""))
                if device is None:
                    return _oauth_error("invalid_grant", "unknown device code")
                if device["subject"] is None:
                    return _oauth_error("authorization_pending", "not approved yet")
                del self._devices[form["device_code"]]
                family = RefreshGrant(device["subject"], self.client_id, uuid.uuid4().hex, device["claims"])
                return JSONResponse(self._tokens(family), headers={"Cache-Control": "no-store"})
            if form.get("grant_type") == "refresh_token":
                return self._redeem(form.get("refresh_token", ""))
            return _oauth_error("unsupported_grant_type", str(form.get("grant_type")))

    def _redeem(self, token: str) -> JSONResponse:
        grant = self._refresh.get(token)
        if grant is None or grant.client_id != self.client_id or grant.family in self._revoked_families:
            return _oauth_error("invalid_grant", "the refresh token is not valid")
        if not grant.active:  # a rotated-away token used again: someone else may hold it
            self._revoked_families.add(grant.family)
            return _oauth_error("invalid_grant", "the refresh token was already used")
        if not self.rotate:  # the answer carries no refresh token: the client keeps the one it has
            return JSONResponse(
                {
                    "access_token": self.access_token(grant.subject, **grant.claims),
                    "token_type": "Bearer",
                    "expires_in": self.access_lifetime,
                },
                headers={"Cache-Control": "no-store"},
            )
        grant.active = False
        successor = RefreshGrant(grant.subject, grant.client_id, grant.family, grant.claims)
        return JSONResponse(self._tokens(successor), headers={"Cache-Control": "no-store"})

    async def _revoke(self, request: Request) -> Response:
        if not self.revocation:
            return Response(status_code=404)
        form = {k: str(v) for k, v in (await request.form()).items()}
        with self._lock:
            self.calls.append(("revoke", form))
            if form.get("client_id") != self.client_id:
                return _oauth_error("invalid_client", "unknown client", 401)
            grant = self._refresh.get(form.get("token", ""))
            if grant is not None and grant.client_id == self.client_id:
                self._revoked_families.add(grant.family)
        return Response(status_code=200)  # RFC 7009 2.2: also for tokens that were not valid


def _oauth_error(code: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)
