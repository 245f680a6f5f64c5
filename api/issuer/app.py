"""The built-in OIDC issuer: the identity provider `./dev run` uses when no external one is set.

Mounted by the main API at /issuer, so its public base URL (and the `iss` of every
token it signs) is settings.builtin_issuer_url. It serves OIDC discovery, its public
key set, and authlib's server grants (api/issuer/grants.py) for the demo accounts of
api/issuer/accounts.py: the device flow for the CLI, client credentials for automation,
the authorization code with PKCE for the portal, refresh tokens and their revocation.

Grants, rate limits and lockouts live in the database (api/issuer/store.py,
api/issuer/throttle.py), so any number of API processes serve one issuer. The signing
key is persisted under settings.data_dir and shared by every process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from authlib.oauth2.rfc6749 import OAuth2Error
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.issuer import grants, pages, signin, store
from api.issuer.accounts import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, DEVICE_CODE, REFRESH_TOKEN, Accounts
from api.issuer.keys import DEFAULT_ALG, load_or_create_signing_key, public_jwk
from api.issuer.server import (
    SCOPES_SUPPORTED,
    FormError,
    IssuerRequest,
    IssuerServer,
    TokenFactory,
    client_address,
    oauth_error,
    read_form,
)
from controlplane.clock import SystemClock
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.ports import Clock
from controlplane.settings import Settings

T = TypeVar("T")
_PUBLIC_CACHE = {"Cache-Control": "public, max-age=300"}


class Issuer:
    """What the issuer's routes share: settings, clock, database, key and authorization server."""

    def __init__(self, settings: Settings, clock: Clock, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.clock = clock
        self.sessions = sessions
        self.url = settings.builtin_issuer_url
        self.accounts = Accounts.from_settings(settings)
        self.key = load_or_create_signing_key(settings.data_dir)
        private = self.key.as_dict(is_private=True)
        self.kid: str = private["kid"]
        self.alg: str = private.get("alg", DEFAULT_ALG)
        self.server = IssuerServer(
            settings, clock, self.accounts, TokenFactory(settings, clock, self.key, self.kid, self.alg)
        )
        self.server.register_client_auth_method("none", grants.authenticate_public_client)
        self.server.register_grant(grants.DeviceCode)
        self.server.register_grant(grants.ClientCredentials)
        self.server.register_grant(grants.AuthorizationCode, [grants.S256Required()])
        self.server.register_grant(grants.RefreshToken)
        self.server.register_endpoint(grants.DeviceAuthorization)
        self.server.register_endpoint(grants.Revocation)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "device_authorization_endpoint": f"{self.url}/device_authorization",
            "revocation_endpoint": f"{self.url}/revoke",
            "grant_types_supported": [AUTHORIZATION_CODE, CLIENT_CREDENTIALS, DEVICE_CODE, REFRESH_TOKEN],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.alg],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": SCOPES_SUPPORTED,
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "nbf",
                "jti",
                "name",
                "email",
                "preferred_username",
                "client_id",
                "scope",
                self.settings.oidc_roles_claim,
                self.settings.oidc_orgs_claim,
            ],
        }

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run blocking database work in one transaction, off the event loop. The transaction commits
        when `work` returns, also when it returns an OAuth error (a slow_down or a lockout is kept)."""

        def in_transaction() -> T:
            with transaction(self.sessions) as session:
                return work(session)

        return await run_in_threadpool(in_transaction)

    def oauth_request(self, request: Request, form: dict[str, str], session: Session) -> IssuerRequest:
        endpoint = request.url.path.rsplit("/", 1)[-1]
        return IssuerRequest(
            request.method, f"{self.url}/{endpoint}", request.headers, form, session, client_address(request)
        )


def create_issuer(
    settings: Settings, *, clock: Clock | None = None, sessions: sessionmaker[Session] | None = None
) -> FastAPI:
    """The issuer as an ASGI sub-application, to be mounted at /issuer on the main API.

    `sessions` is the API's session factory (the issuer's tables are in its database);
    without it the issuer opens its own engine on settings.database_url.
    """
    issuer = Issuer(
        settings, clock or SystemClock(), sessions or make_session_factory(make_engine(settings.database_url))
    )
    app = FastAPI(title="Sahab built-in issuer", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.issuer = issuer
    server = issuer.server

    @app.get("/.well-known/openid-configuration")
    def discovery() -> JSONResponse:
        return JSONResponse(issuer.discovery(), headers=_PUBLIC_CACHE)

    @app.get("/jwks")
    def jwks() -> JSONResponse:
        return JSONResponse({"keys": [public_jwk(issuer.key)]}, headers=_PUBLIC_CACHE)

    async def oauth_endpoint(request: Request, respond: Callable[[IssuerRequest], Response]) -> Response:
        try:
            form = await read_form(request)
        except FormError as error:
            return oauth_error("invalid_request", error.description, error.status)

        return await issuer.run(lambda session: respond(issuer.oauth_request(request, form, session)))

    @app.post("/device_authorization")
    async def device_authorization(request: Request) -> Response:
        return await oauth_endpoint(request, lambda r: server.create_endpoint_response("device_authorization", r))

    @app.post("/token")
    async def token(request: Request) -> Response:
        return await oauth_endpoint(request, server.create_token_response)

    @app.post("/revoke")
    async def revoke(request: Request) -> Response:
        return await oauth_endpoint(request, lambda r: server.create_endpoint_response("revocation", r))

    @app.get("/device", response_class=HTMLResponse)
    def device_page(request: Request, user_code: str = "", ui_locales: str = "") -> HTMLResponse:
        language = pages.language_of(ui_locales[:64], request.headers.get("accept-language", ""))
        return pages.device_form(language=language, user_code=user_code[:32])

    @app.post("/device", response_class=HTMLResponse)
    async def device_decide(request: Request) -> Response:
        try:
            form = await read_form(request)
        except FormError as error:
            language = pages.language_of("", request.headers.get("accept-language", ""))
            return pages.device_form(language=language, error=error.description, status=error.status)
        language = pages.language_of(form.get("ui_locales", ""), request.headers.get("accept-language", ""))
        return await issuer.run(
            lambda session: _decide_device(issuer, session, form, client_address(request), language)
        )

    @app.get("/authorize", response_class=HTMLResponse)
    async def authorize_page(request: Request) -> Response:
        try:
            form = await read_form(request, query=True)
        except FormError as error:
            return pages.problem("Sign-in refused", error.description, error.status)
        return await issuer.run(lambda session: _authorize(issuer, session, request, form, decide=False))

    @app.post("/authorize", response_class=HTMLResponse)
    async def authorize_decide(request: Request) -> Response:
        try:
            form = await read_form(request)
        except FormError as error:
            return pages.problem("Sign-in refused", error.description, error.status)
        return await issuer.run(lambda session: _authorize(issuer, session, request, form, decide=True))

    return app


def _decide_device(
    issuer: Issuer, session: Session, form: dict[str, str], address: str, language: pages.Language
) -> HTMLResponse:
    """The device page's POST: approve or deny a pending device sign-in, both only with the user's credentials."""
    now = issuer.clock.now()
    user_code, username = form.get("user_code", "").strip(), form.get("username", "").strip()
    password, action = form.get("password", ""), form.get("action", "approve")

    def again(error: str, status: int, **values: object) -> HTMLResponse:
        return pages.device_form(
            language=language, user_code=user_code, username=username, error=error, status=status, **values
        )

    if not user_code:
        return again(pages.DEVICE_ERRORS["no-code"], 400)
    if action not in {"approve", "deny"}:
        return again(pages.DEVICE_ERRORS["unknown-action"], 400)
    wait = signin.address_locked(session, now, address)
    if wait is not None:
        return again(pages.LOCKED, 429, seconds=wait)
    grant = store.pending_by_user_code(session, now, user_code)
    if grant is None:
        signin.count_failure(session, now, issuer.settings, address)  # codes cannot be guessed freely either
        return again(pages.DEVICE_ERRORS["unknown-code"], 400)
    user = signin.sign_in(session, now, issuer.settings, issuer.accounts, username, password, address)
    if isinstance(user, signin.Locked):
        return again(pages.LOCKED, 429, seconds=user.retry_after)
    if user is None:
        return again(pages.WRONG_PASSWORD, 401)
    if not store.decide_device_grant(session, now, grant, user.subject, approve=action == "approve"):
        return again(pages.DEVICE_ERRORS["used-meanwhile"], 400)
    if action == "deny":
        return pages.done(language, "refused")
    return pages.done(language, "signed-in", name=user.name)


_AUTHORIZE_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "ui_locales",
)


def _authorize(issuer: Issuer, session: Session, request: Request, form: dict[str, str], *, decide: bool) -> Response:
    """The authorization endpoint (RFC 6749 4.1.1): a sign-in page, then a redirect back with a code or an error.

    Its parameters travel in the page's hidden fields, so no session cookie is needed. Errors before
    the client and its redirect URI are known are shown here, never redirected (RFC 6749 4.1.2.1).
    """
    server = issuer.server
    oauth_request = issuer.oauth_request(request, {k: form[k] for k in _AUTHORIZE_FIELDS if k in form}, session)
    try:
        grant = server.get_consent_grant(oauth_request)
    except OAuth2Error as error:
        if error.redirect_uri:
            return server.redirect_error(oauth_request, error)
        return pages.problem("Sign-in refused", error.description or error.error or "invalid request", 400)
    params = {k: form[k] for k in _AUTHORIZE_FIELDS if k in form}
    client_name = grant.client.client_id
    if not decide:
        return pages.authorize_form(params=params, client=client_name)
    if form.get("action") == "deny":
        return server.redirect_back(oauth_request, grant, None)
    username, password = form.get("username", "").strip(), form.get("password", "")
    user = signin.sign_in(
        session, issuer.clock.now(), issuer.settings, issuer.accounts, username, password, client_address(request)
    )
    if isinstance(user, signin.Locked):
        return pages.authorize_form(
            params=params,
            client=client_name,
            username=username,
            status=429,
            error=pages.LOCKED,
            seconds=user.retry_after,
        )
    if user is None:
        return pages.authorize_form(
            params=params, client=client_name, username=username, status=401, error=pages.WRONG_PASSWORD
        )
    return server.redirect_back(oauth_request, grant, user)
