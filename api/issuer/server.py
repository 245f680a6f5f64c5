"""authlib's AuthorizationServer, fitted to Starlette, Sahab's tokens and the database.

authlib ships server integrations for Flask and Django only. This module gives it what
those provide: a request object built from a Starlette request (with the form read and
bounded first), a response from its (status, body, headers) triples, and the token
generator. The grants themselves are in api/issuer/grants.py.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.issuer import store
from api.issuer.accounts import Accounts, Client, DemoUser
from api.jose import JsonWebToken
from controlplane.ports import Clock
from controlplane.settings import Settings

MAX_FORM_BYTES = 16 * 1024  # every field of every grant fits many times over
# Field bounds: anything longer is refused before it reaches a grant or the database.
FIELD_LIMITS = {
    "client_id": 64,
    "scope": 200,
    "device_code": 128,
    "user_code": 32,
    "username": 64,
    "password": 256,
    "code": 128,
    "code_verifier": 128,
    "code_challenge": 128,
    "redirect_uri": 2000,
    "state": 512,
    "refresh_token": 128,
    "token": 4096,
    "client_secret": 256,
}
SCOPES_SUPPORTED = ["openid", "profile", "email", "offline_access", "sahab"]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class FormError(Exception):
    """A form that no grant should see: too large, repeated or over-long fields, not form-encoded."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


async def read_form(request: Request, *, query: bool = False) -> dict[str, str]:
    """The form (or query string) as a dict, bounded: at most MAX_FORM_BYTES, each field once and within
    FIELD_LIMITS (RFC 6749 3.1/3.2: parameters MUST NOT be repeated)."""
    if query:
        pairs = parse_qsl(request.url.query, keep_blank_values=True)
    else:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            raise FormError(400, "send the parameters form-encoded (application/x-www-form-urlencoded)")
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
            raise FormError(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise FormError(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise FormError(400, "the form is not UTF-8") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise FormError(400, f"parameter {name!r} is repeated")
        limit = FIELD_LIMITS.get(name)
        if limit is not None and len(value) > limit:
            raise FormError(400, f"parameter {name!r} is longer than {limit} characters")
        form[name] = value
    return form


def client_address(request: Request) -> str:
    """Who a limit counts against: the peer's IPv4 address, or its IPv6 /64 (one subscriber's
    network: a single host can take any address in it)."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64] or "unknown"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else address)


class IssuerRequest(OAuth2Request):
    """An OAuth2Request over an already read, bounded form, carrying the database session of its transaction."""

    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str], form: dict[str, str], session: Session, address: str
    ) -> None:
        # authlib refuses plain-http URIs other than loopback. Transport is decided by the operator's
        # public URL (TLS usually ends at a proxy before this process), not by the hop that reached us.
        super().__init__(method, "https://issuer.invalid/", headers=headers)
        self.uri = uri
        self.payload = BasicOAuth2Payload(form)
        self._form = form
        self.session = session
        self.address = address

    @property
    def args(self) -> dict[str, str]:
        return self._form if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass
class TokenFactory:
    """Signs access tokens exactly as the API's verifier expects (api/auth/verifier.py): a JWT with
    `typ: at+jwt` (RFC 9068), the audience, and the roles and organisations claims."""

    settings: Settings
    clock: Clock
    key: Any
    kid: str
    alg: str

    def __call__(
        self,
        *,
        grant_type: str,
        client: Client,
        user: DemoUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        scope = scope or client.get_allowed_scope(None)
        token = {
            "access_token": self.access_token(client, user, scope),
            "token_type": "Bearer",
            "expires_in": self.settings.issuer_access_token_seconds,
            "scope": scope,
        }
        if include_refresh_token and user is not None:
            token["refresh_token"] = secrets.token_urlsafe(32)
        return token

    def access_token(self, client: Client, user: DemoUser | None, scope: str) -> str:
        now = int(self.clock.now().timestamp())
        who: Any = user if user is not None else client.identity
        claims: dict[str, Any] = {
            "iss": self.settings.builtin_issuer_url,
            "sub": who.subject,
            "aud": self.settings.oidc_audience,
            "iat": now,
            "nbf": now,
            "exp": now + self.settings.issuer_access_token_seconds,
            "jti": secrets.token_urlsafe(16),
            "client_id": client.client_id,
            "scope": scope,
            "name": who.name,
            self.settings.oidc_roles_claim: list(who.roles),
            self.settings.oidc_orgs_claim: list(who.orgs),
        }
        if user is not None:
            claims["email"] = user.email
            claims["preferred_username"] = user.username
        header = {"alg": self.alg, "kid": self.kid, "typ": "at+jwt"}
        return str(JsonWebToken([self.alg]).encode(header, claims, self.key).decode("ascii"))


class IssuerServer(AuthorizationServer):
    """The authorization server: clients from Accounts, refresh tokens saved in the request's session."""

    def __init__(self, settings: Settings, clock: Clock, accounts: Accounts, tokens: TokenFactory) -> None:
        super().__init__(scopes_supported=SCOPES_SUPPORTED)
        self.settings = settings
        self.clock = clock
        self.accounts = accounts
        self.register_token_generator("default", tokens)

    def query_client(self, client_id: str) -> Client | None:
        return self.accounts.clients.get(client_id)

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> Any:
        # RFC 6749 2.3: a client MUST NOT use more than one authentication method in a request.
        if request.headers.get("authorization") and "client_secret" in request.form:
            raise InvalidRequestError("use one client authentication method, not two")
        return super().authenticate_client(request, methods, endpoint)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Only refresh tokens are kept: access tokens are self-contained JWTs. The answer (`token`) learns
        how long the refresh token lasts."""
        if "refresh_token" not in token:
            return
        # Set by the refresh grant: the new token continues the family of the one it replaces.
        previous = request.refresh_token.row if request.refresh_token is not None else None
        store.purge_expired(request.session, self.clock.now())
        now = self.clock.now()
        saved = store.save_refresh_token(
            request.session,
            now,
            token["refresh_token"],
            client_id=request.client.client_id,
            subject=request.user.subject,
            scope=token["scope"],
            lifetime=self.settings.issuer_refresh_token_seconds,
            family_id=previous.family_id if previous is not None else None,
            family_expires_at=previous.family_expires_at if previous is not None else None,
            session_max=self.settings.issuer_session_max_seconds,
        )
        # Keycloak's name for it, which clients (Sahab's CLI among them) read to know how long a session lasts.
        token["refresh_expires_in"] = int((saved.expires_at - now).total_seconds())
        if request.authorization_code is not None:  # set by the code grant
            store.link_code_to_family(request.session, request.authorization_code.row.code_hash, saved.family_id)

    def create_oauth2_request(self, request: Any) -> Any:
        return request  # the routes build IssuerRequest themselves, after reading the form

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("the issuer serves no JSON-request endpoint")

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        headers = dict(headers or [])
        if isinstance(body, (dict, list)):
            headers.pop("Content-Type", None)
            return JSONResponse(body, status_code=status, headers={**NO_STORE, **headers})
        return Response(body or b"", status_code=status, headers=headers)

    def redirect_back(self, request: IssuerRequest, grant: Any, user: DemoUser | None) -> Response:
        """The authorization endpoint's answer: back to the client with a code, or access_denied without a user."""
        response: Response = self.create_authorization_response(request, grant_user=user, grant=grant)
        return response

    def redirect_error(self, request: IssuerRequest, error: Exception) -> Response:
        response: Response = self.handle_error_response(request, error)
        return response

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass  # no listeners: authlib calls this after client authentication and revocation


def oauth_error(error: str, description: str, status: int = 400, headers: dict[str, str] | None = None) -> JSONResponse:
    """An RFC 6749 5.2 error response for what is refused before authlib sees the request."""
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers={**NO_STORE, **(headers or {})}
    )
