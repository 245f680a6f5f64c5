"""Getting and keeping an access token: device authorization grant (people),
client credentials (automation), refresh tokens (RFC 6749 section 6, revoked by
RFC 7009 at logout), and claims decoded locally for `whoami`.

Tokens are bound to the API URL they were obtained for: they are never sent to
another API, and the refresh token only to the issuer that API named at login."""

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
from cli.i18n import N_, _

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5


def discover(api_url: str) -> dict[str, Any]:
    """GET {api}/v1/meta, then the issuer's OIDC discovery document; both merged under meta/oidc."""
    with Api(api_url) as api:
        meta = api.get("/v1/meta", auth=False)
    if not isinstance(meta, dict) or not meta.get("issuer"):
        raise CliError(
            N_("Identity provider discovery failed"),
            f"GET {api_url}/v1/meta names no issuer; is {api_url} a Sahab API?",
            exit_code=errors.UNAVAILABLE,
        )
    return {"meta": meta, "oidc": issuer_metadata(str(meta["issuer"]))}


def issuer_metadata(issuer: str) -> dict[str, Any]:
    """The issuer's OpenID Connect discovery document (token, device and revocation endpoints)."""
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=15)
    except httpx.HTTPError as error:
        raise transport_error(issuer, error) from None
    if not response.is_success:
        raise CliError(
            N_("Identity provider discovery failed"),
            f"GET {url} answered {response.status_code}",
            exit_code=errors.UNAVAILABLE,
        )
    document = decode(response)
    if not isinstance(document, dict):
        raise CliError(
            N_("Identity provider discovery failed"),
            f"GET {url} did not answer a JSON object",
            exit_code=errors.UNAVAILABLE,
        )
    return document


def _post_form(endpoint: str, form: dict[str, str], auth: tuple[str, str] | None = None) -> httpx.Response:
    """POST an OAuth form (a public client names itself by client_id in the form; a confidential one by auth)."""
    try:
        return httpx.post(endpoint, data=form, auth=auth, timeout=15)
    except httpx.HTTPError as error:
        raise transport_error(endpoint, error) from None


def _reason(response: httpx.Response) -> str:
    """`error: error_description` of an OAuth error answer."""
    return ": ".join(filter(None, _oauth_error(response)))


def _oauth_error(response: httpx.Response) -> tuple[str, str]:
    body = decode(response)
    if isinstance(body, dict):
        return str(body.get("error", "")), str(body.get("error_description", ""))
    return "", str(body)[:200]


def _credentials_from(
    token: dict[str, Any], grant: str, api_url: str, client_id: str | None, issuer: str | None
) -> config.Credentials:
    claims = decode_claims(token["access_token"])
    expires_at = claims.get("exp") or (time.time() + float(token.get("expires_in", 3600)))
    refresh_lifetime = token.get("refresh_expires_in")  # Keycloak's; 0 means "does not expire"
    return config.Credentials(
        access_token=token["access_token"],
        expires_at=float(expires_at),
        grant=grant,
        api_url=api_url,
        client_id=client_id,
        issuer=issuer,
        refresh_token=token.get("refresh_token") or None,
        refresh_expires_at=time.time() + float(refresh_lifetime) if refresh_lifetime else None,
    )


def client_credentials(api_url: str, client_id: str, client_secret: str) -> config.Credentials:
    found = discover(api_url)
    endpoint = found["oidc"]["token_endpoint"]
    response = _post_form(endpoint, {"grant_type": "client_credentials"}, auth=(client_id, client_secret))
    if not response.is_success:
        raise CliError(N_("Login failed"), _reason(response), exit_code=errors.NOT_AUTHENTICATED)
    return _credentials_from(response.json(), "client_credentials", api_url, client_id, found["meta"].get("issuer"))


def device_login(
    api_url: str,
    show: Callable[[dict[str, Any]], None],
    waiting: Callable[[], Any],
    sleep: Callable[[float], None] = time.sleep,
) -> config.Credentials:
    """RFC 8628: start a grant, show the code, poll the token endpoint honouring interval and slow_down."""
    found = discover(api_url)
    client_id = found["meta"].get("cli_client_id") or "sahab-cli"
    oidc = found["oidc"]
    start_url = oidc.get("device_authorization_endpoint")
    if not start_url:
        raise CliError(
            N_("Login failed"),
            _("the identity provider offers no device authorization endpoint"),
            exit_code=errors.NOT_AUTHENTICATED,
        )
    response = _post_form(start_url, {"client_id": client_id, "scope": "openid profile email"})
    if not response.is_success:
        raise CliError(N_("Login failed"), _reason(response), exit_code=errors.NOT_AUTHENTICATED)
    grant = response.json()
    show(grant)
    interval = float(grant.get("interval") or 5)
    deadline = time.monotonic() + float(grant.get("expires_in") or 600)
    with waiting():
        while time.monotonic() < deadline:
            sleep(interval)
            response = _post_form(
                oidc["token_endpoint"],
                {"grant_type": DEVICE_CODE_GRANT, "device_code": grant["device_code"], "client_id": client_id},
            )
            if response.is_success:
                return _credentials_from(
                    response.json(), "device_code", api_url, client_id, found["meta"].get("issuer")
                )
            code, _description = _oauth_error(response)
            if code == "authorization_pending":
                continue
            if code == "slow_down":
                body = decode(response)
                suggested = body.get("interval") if isinstance(body, dict) else None
                interval = max(float(suggested or 0), interval + SLOW_DOWN_STEP)
                continue
            raise CliError(N_("Login failed"), _reason(response), exit_code=errors.NOT_AUTHENTICATED)
    raise CliError(
        N_("Login failed"),
        _("the device code expired before the sign-in was approved; run `sahab login` again"),
        exit_code=errors.NOT_AUTHENTICATED,
    )


def env_client() -> tuple[str, str] | None:
    client_id, secret = os.environ.get("SAHAB_CLIENT_ID"), os.environ.get("SAHAB_CLIENT_SECRET")
    return (client_id, secret) if client_id and secret else None


class Session:
    """The access token for one API, obtained lazily (commands that fail on flags never need one),
    refreshed once more if the API refuses it (the issuer may have ended it earlier than `exp`,
    or the local clock is behind)."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            self._token = current_token(self.api_url)
        return self._token

    def renew(self, refused: str) -> bool:
        """After a 401 for `refused`: whether a fresh token was obtained (by its refresh token)."""
        stored = config.load_credentials()
        if stored is None or not config.same_api(stored.api_url, self.api_url) or not stored.refreshable():
            return False
        self._token = refresh(stored, refused=refused).access_token
        return self._token != refused


def current_token(api_url: str) -> str:
    stored = config.load_credentials()
    env = env_client()
    if env is not None:
        if (
            stored
            and stored.grant == "client_credentials"
            and stored.client_id == env[0]
            and config.same_api(stored.api_url, api_url)
            and not stored.expired()
        ):
            return stored.access_token
        fresh = client_credentials(api_url, *env)
        config.save_credentials(fresh)
        return fresh.access_token
    if stored is None:
        raise errors.not_authenticated()
    ensure_issued_for(stored, api_url)
    if not stored.expired():
        return stored.access_token
    if stored.refreshable():
        return refresh(stored).access_token
    if stored.grant == "client_credentials":
        said = _(
            "the stored token expired; client credentials: set SAHAB_CLIENT_ID and SAHAB_CLIENT_SECRET or run "
            "`sahab login`"
        )
    elif stored.refresh_token:
        said = _("the stored token expired, and so did the session it could be renewed by; run `sahab login`")
    else:
        said = _("the stored token expired; run `sahab login`")
    raise errors.not_authenticated(said)


def ensure_issued_for(stored: config.Credentials, api_url: str) -> None:
    """Refuse to send a token to an API other than the one it was obtained for."""
    if not config.same_api(stored.api_url, api_url):
        raise errors.not_authenticated(
            _(
                "the stored token was issued for {issued_for}, not {api}, and is sent to no other API; run "
                "`sahab login --api {api}` to sign in there"
            ).format(issued_for=stored.api_url or _("another API"), api=api_url)
        )


def refresh(stored: config.Credentials, *, refused: str | None = None) -> config.Credentials:
    """Redeem the refresh token (grant_type=refresh_token, the public client's client_id) and save the
    new pair. Serialised between processes: a command that finds another one already refreshed uses its
    tokens rather than redeem a refresh token the issuer rotated away (which it may treat as theft)."""
    with config.credentials_lock():
        latest = config.load_credentials()  # as another command may have left it meanwhile
        if latest is None:  # logged out meanwhile
            raise errors.not_authenticated()
        ensure_issued_for(latest, stored.api_url)  # logged in elsewhere meanwhile
        if latest.access_token not in {stored.access_token, refused} and not latest.expired():
            return latest
        if not latest.refreshable():
            raise errors.not_authenticated(_("the stored token expired and cannot be renewed; run `sahab login`"))
        renewed = _redeem(latest)
        config.save_credentials(renewed)
        return renewed


def _redeem(stored: config.Credentials) -> config.Credentials:
    assert stored.refresh_token and stored.issuer
    endpoint = issuer_metadata(stored.issuer)["token_endpoint"]
    response = _post_form(
        endpoint, _as_public_client(stored, grant_type="refresh_token", refresh_token=stored.refresh_token)
    )
    if not response.is_success:
        if response.status_code < 500:
            raise errors.not_authenticated(
                _("the session ended ({reason}); run `sahab login`").format(reason=_reason(response))
            )
        raise CliError(
            N_("Token refresh failed"), f"{endpoint} answered {response.status_code}", exit_code=errors.UNAVAILABLE
        )
    renewed = _credentials_from(response.json(), stored.grant, stored.api_url, stored.client_id, stored.issuer)
    if renewed.refresh_token is None:  # the issuer does not rotate: the old refresh token stays valid
        renewed.refresh_token, renewed.refresh_expires_at = stored.refresh_token, stored.refresh_expires_at
    return renewed


def revoke(stored: config.Credentials) -> str | None:
    """RFC 7009: revoke the refresh token at the issuer's revocation_endpoint. Returns the endpoint used,
    None when there is nothing to revoke or the issuer offers no revocation; raises when revocation failed."""
    if not stored.refresh_token or not stored.issuer:
        return None
    endpoint = issuer_metadata(stored.issuer).get("revocation_endpoint")
    if not endpoint:
        return None
    response = _post_form(
        endpoint, _as_public_client(stored, token=stored.refresh_token, token_type_hint="refresh_token")
    )
    if not response.is_success:
        reason = _reason(response)
        raise CliError(
            N_("Revocation failed"),
            f"{endpoint} answered {response.status_code}" + (f" ({reason})" if reason else ""),
            exit_code=errors.EXIT_CODE_BY_STATUS.get(response.status_code, errors.UNEXPECTED),
        )
    return str(endpoint)


def _as_public_client(stored: config.Credentials, **form: str) -> dict[str, str]:
    """The form, with the client_id the tokens were issued to (the public CLI client sends no secret)."""
    return {**form, "client_id": stored.client_id} if stored.client_id else form


def decode_claims(token: str) -> dict[str, Any]:
    """The JWT payload, not verified (the API verifies; this is for display and expiry)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        raise CliError(
            N_("Not authenticated"),
            _("the stored token is not a JWT; run `sahab login`"),
            exit_code=errors.NOT_AUTHENTICATED,
        ) from None
    return claims if isinstance(claims, dict) else {}
