"""The portal as an OIDC client of the configured issuer (the built-in one or an external one such
as Keycloak): authorization code with PKCE S256, the confidential client's secret sent with HTTP
Basic, refresh and revocation. Endpoints come from the issuer's discovery document."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx

from controlplane.errors import AuthenticationFailed, DependencyUnavailable
from controlplane.settings import Settings

TIMEOUT = httpx.Timeout(10.0)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge), RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class OidcClient:
    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.portal_client_id
        self._secret = settings.portal_client_secret
        self.redirect_uri = settings.public_url.rstrip("/") + "/portal/callback"
        self._metadata: dict[str, Any] | None = None

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                    response = await http.get(url)
                response.raise_for_status()
                self._metadata = dict(response.json())
            except (httpx.HTTPError, ValueError) as error:
                raise DependencyUnavailable(
                    f"the identity provider's discovery document {url} could not be read: {error}", issuer=self.issuer
                ) from None
        return self._metadata

    async def authorization_url(self, *, state: str, challenge: str, nonce: str, locale: str = "en") -> str:
        endpoint = (await self.metadata())["authorization_endpoint"]
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": "openid profile email",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "ui_locales": locale,
            }
        )
        return f"{endpoint}?{query}"

    async def exchange(self, code: str, verifier: str) -> dict[str, Any]:
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def revoke(self, refresh_token: str) -> None:
        """Ends the sign-in at the issuer where it supports revocation; signing out never fails on it."""
        endpoint = (await self.metadata()).get("revocation_endpoint")
        if not endpoint:
            return
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                await http.post(
                    endpoint,
                    data={"token": refresh_token, "token_type_hint": "refresh_token"},
                    auth=(self.client_id, self._secret),
                )
        except httpx.HTTPError:
            pass

    async def _token(self, form: dict[str, str]) -> dict[str, Any]:
        endpoint = (await self.metadata())["token_endpoint"]
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.post(endpoint, data=form, auth=(self.client_id, self._secret))
        except httpx.HTTPError as error:
            raise DependencyUnavailable(
                f"the identity provider's token endpoint could not be reached: {error}", issuer=self.issuer
            ) from None
        if response.status_code >= 500:
            raise DependencyUnavailable(f"the identity provider answered {response.status_code}", issuer=self.issuer)
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code != 200 or "access_token" not in body:
            raise AuthenticationFailed(
                f"the identity provider refused the sign-in: {body.get('error', response.status_code)}"
            )
        return dict(body)
