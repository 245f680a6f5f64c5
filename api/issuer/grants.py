"""The issuer's grants: authlib's server grants, with their storage in api/issuer/store.py.

- device code (RFC 8628) for the CLI, with its device authorization endpoint;
- client credentials for automation;
- authorization code for the portal, with PKCE S256 required (RFC 7636, RFC 9700 2.1.1);
- refresh tokens, rotated on each use; a rotated one used again revokes its family (RFC 9700 4.14.2);
- token revocation (RFC 7009).

Every method runs inside the request's transaction (request.session), which commits even
when a grant answers an OAuth error: a slow_down's longer interval and a revoked family
must stay recorded.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant
from authlib.oauth2.rfc8628.errors import AuthorizationPendingError, ExpiredTokenError, SlowDownError

from api.issuer import store, throttle
from api.issuer.accounts import DemoUser
from api.issuer.server import IssuerServer
from api.issuer.store import DeviceStatus

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]


class TooManyRequests(OAuth2Error):
    """HTTP 429 with Retry-After: too many sign-ins started by this client or from this address.
    (RFC 8628's slow_down is only for a device client that polls too fast.)"""

    error = "too_many_requests"
    status_code = 429

    def __init__(self, description: str, retry_after: int) -> None:
        super().__init__(description)
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


class SlowDown(SlowDownError):
    """slow_down with the grant's new interval in the body, for clients that read it."""

    def __init__(self, interval: int) -> None:
        super().__init__(f"polling too fast; wait {interval} s between polls")
        self.interval = interval

    def get_body(self) -> list[tuple[str, Any]]:
        return [*super().get_body(), ("interval", self.interval)]


def authenticate_public_client(query_client: Any, request: Any) -> Any:
    """The `none` method (RFC 6749 2.2): a client_id and no secret. An unknown client is 401, as for the others."""
    client_id = request.payload.client_id
    if not client_id or request.form.get("client_secret"):
        return None
    client = query_client(client_id)
    if client is None:
        raise InvalidClientError(status_code=401, description=f"unknown client {client_id!r}")
    return client


def _user(server: IssuerServer, subject: str | None) -> DemoUser | None:
    return server.accounts.users.get(subject or "")


# ---------------------------------------------------------------- device flow (RFC 8628)


class DeviceAuthorization(DeviceAuthorizationEndpoint):
    CLIENT_AUTH_METHODS = ["none"]
    EXPIRES_IN = store.DEVICE_CODE_SECONDS
    INTERVAL = store.INTERVAL

    def create_endpoint_response(self, request: Any) -> tuple[int, Any, Any]:
        if not request.payload.client_id:
            raise InvalidRequestError("client_id is required (form-encoded)")
        client = self.authenticate_client(request)
        if not client.check_grant_type(DeviceCodeGrant.GRANT_TYPE):
            raise InvalidClientError(
                status_code=401, description=f"client {client.client_id!r} does not use the device flow"
            )
        self.server.validate_requested_scope(request.payload.scope)
        settings, now, session = self.server.settings, self.server.clock.now(), request.session
        window = settings.issuer_rate_window_seconds
        for key, limit, who in (
            (f"device:address:{request.address}", settings.issuer_device_starts_per_address, "from your address"),
            (
                f"device:client:{client.client_id}",
                settings.issuer_device_starts_per_client,
                f"by client {client.client_id}",
            ),
        ):
            wait = throttle.hit(session, now, key, throttle.Limit(limit, window))
            if wait is not None:
                raise TooManyRequests(f"too many sign-ins started {who}; try again in {wait} s", wait)
        store.purge_expired(session, now)
        grant = store.start_device_grant(
            session, now, client.client_id, client.get_allowed_scope(request.payload.scope)
        )
        verification_uri = f"{settings.builtin_issuer_url}/device"
        body = {
            "device_code": grant.device_code,
            "user_code": grant.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?user_code={grant.user_code}",
            "expires_in": grant.expires_in,
            "interval": grant.interval,
        }
        return 200, body, [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


class DeviceCode(DeviceCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def query_device_credential(self, device_code: str) -> Any:
        if len(device_code) > 128:
            raise InvalidGrantError("unknown, used or foreign device code")
        grant = store.device_grant(self.request.session, device_code)
        if grant is None:
            raise InvalidGrantError("unknown, used or foreign device code")
        return _DeviceCredential(grant)

    def validate_device_credential(self, credential: Any) -> DemoUser:
        session, now, grant = self.request.session, self.server.clock.now(), credential.grant
        if now >= grant.expires_at:
            raise ExpiredTokenError("the device code expired; start the sign-in again")
        if grant.status == DeviceStatus.DENIED.value:
            store.spend_device_grant(session, grant, DeviceStatus.DENIED)
            raise AccessDeniedError("the user refused the sign-in")
        if grant.status == DeviceStatus.APPROVED.value:
            user = _user(self.server, grant.subject)
            # Only one poll wins the token, even when several processes answer polls at once.
            if not store.spend_device_grant(session, grant, DeviceStatus.APPROVED) or user is None:
                raise InvalidGrantError("unknown, used or foreign device code")
            return user
        if store.record_poll(session, now, grant):
            raise SlowDown(grant.interval)
        raise AuthorizationPendingError("the user has not approved the sign-in yet")


class _DeviceCredential:
    """authlib's DeviceCredentialMixin over a stored grant."""

    def __init__(self, grant: Any) -> None:
        self.grant = grant

    def get_client_id(self) -> str:
        return str(self.grant.client_id)

    def get_scope(self) -> str:
        return str(self.grant.scope)

    def get_user_code(self) -> str:
        return str(self.grant.user_code)

    def is_expired(self) -> bool:  # checked by validate_device_credential with the injected clock
        return False


# ---------------------------------------------------------------- client credentials


class ClientCredentials(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_METHODS


# ---------------------------------------------------------------- authorization code + PKCE


class S256Required(CodeChallenge):
    """PKCE for every client, S256 only: a request without code_challenge, or with `plain`, is refused."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("code_challenge is required (PKCE, S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCode(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_METHODS, "none"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        store.purge_expired(request.session, self.server.clock.now())
        store.save_authorization_code(
            request.session,
            self.server.clock.now(),
            code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri or request.client.get_default_redirect_uri(),
            scope=request.scope,
            subject=request.user.subject,
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
        )

    def query_authorization_code(self, code: str, client: Any) -> Any:
        # Spent at once: a code is good for one attempt, even one that fails PKCE (RFC 6749 4.1.2);
        # a second attempt also ends the sign-in the first one started.
        row = store.spend_authorization_code(self.request.session, self.server.clock.now(), code, client.client_id)
        return _Stored(row) if row is not None else None

    def delete_authorization_code(self, authorization_code: Any) -> None:
        pass  # marked used by query_authorization_code; purged once expired

    def authenticate_user(self, authorization_code: Any) -> DemoUser | None:
        return _user(self.server, authorization_code.row.subject)


class _Stored:
    """A stored code or refresh token as authlib's grants read it (AuthorizationCodeMixin, TokenMixin)."""

    def __init__(self, row: Any) -> None:
        self.row = row

    def get_redirect_uri(self) -> str:
        return str(self.row.redirect_uri)

    def get_scope(self) -> str:
        return str(self.row.scope)

    def check_client(self, client: Any) -> bool:
        return bool(self.row.client_id == client.client_id)

    @property
    def code_challenge(self) -> str:
        return str(self.row.code_challenge)

    @property
    def code_challenge_method(self) -> str:
        return str(self.row.code_challenge_method)


# ---------------------------------------------------------------- refresh tokens


class RefreshToken(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_METHODS, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Any:
        session, now = self.request.session, self.server.clock.now()
        row = store.refresh_token(session, refresh_token)
        if row is None or now >= row.expires_at or row.client_id != self.request.client.client_id:
            return None
        if row.rotated_at is not None or row.revoked_at is not None:
            self._reused(row)
        return _Stored(row)

    def validate_token_request(self) -> None:
        super().validate_token_request()  # client, token, scope: a refused request spends nothing
        row = self.request.refresh_token.row
        if not store.rotate_refresh_token(self.request.session, self.server.clock.now(), row):
            self._reused(row)  # used by a concurrent request, perhaps in another process

    def _reused(self, row: Any) -> None:
        # A refresh token used twice was copied: whoever holds the newer one may be the thief.
        store.revoke_family(self.request.session, self.server.clock.now(), row.family_id)
        raise InvalidGrantError("this refresh token was already used or revoked; sign in again")

    def authenticate_user(self, refresh_token: Any) -> DemoUser:
        user = _user(self.server, refresh_token.row.subject)
        if user is None:
            raise InvalidGrantError("the account of this refresh token no longer exists")
        return user

    def revoke_old_credential(self, refresh_token: Any) -> None:
        pass  # rotated by validate_token_request, atomically


# ---------------------------------------------------------------- revocation (RFC 7009)


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = [*SECRET_METHODS, "none"]

    def authenticate_token(self, request: Any, client: Any) -> Any:
        # Access tokens are self-contained JWTs that live an hour: only refresh tokens are revocable,
        # and revoking one ends its whole sign-in. An unknown token, or another client's, changes
        # nothing and answers 200 like a revoked one (RFC 7009 2.2).
        self.check_params(request, client)
        row = store.refresh_token(request.session, request.form["token"])
        return row if row is not None and row.client_id == client.client_id else None

    def revoke_token(self, token: Any, request: Any) -> None:
        store.revoke_family(request.session, self.server.clock.now(), token.family_id)
