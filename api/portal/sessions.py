"""The portal's cookies: the sign-in session and the sign-in in progress, sealed with Fernet
(authenticated encryption: the browser can neither read the tokens inside nor change them).

A session carries the access token (and the refresh token, when the issuer gives one) of the
person signed in, a CSRF token every form must echo, and when it ends. The end comes from the
injectable clock, never from the cookie's own timestamp. Cookies are HttpOnly, SameSite=Lax,
scoped to /portal, and Secure unless Sahab is served over plain HTTP on loopback.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from starlette.responses import Response

from controlplane.projects.credentials import local_key
from controlplane.settings import Settings

SESSION_COOKIE = "sahab_portal"
SIGNIN_COOKIE = "sahab_portal_signin"
KEY_FILE = "portal-session.key"
PATH = "/portal"
SIGNIN_SECONDS = 600  # an unfinished sign-in is forgotten after this


@dataclass(frozen=True)
class PortalSession:
    subject: str
    name: str
    access_token: str
    refresh_token: str | None
    ends_at: float  # POSIX seconds, from the clock
    csrf: str

    def ended(self, now: datetime) -> bool:
        return now.timestamp() >= self.ends_at

    def with_tokens(self, access_token: str, refresh_token: str | None) -> PortalSession:
        return replace(self, access_token=access_token, refresh_token=refresh_token or self.refresh_token)

    def csrf_matches(self, offered: str) -> bool:
        return bool(offered) and hmac.compare_digest(offered.encode(), self.csrf.encode())


@dataclass(frozen=True)
class SignIn:
    """A sign-in in progress: what comes back to /portal/callback must match it."""

    state: str
    verifier: str
    nonce: str
    next: str
    started_at: float


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


class CookieSealer:
    def __init__(self, keys: list[str], secure: bool) -> None:
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        self.secure = secure

    @classmethod
    def from_settings(cls, settings: Settings) -> CookieSealer:
        keys = settings.portal_session_keys or [local_key(settings.data_dir, KEY_FILE)]
        return cls(keys, secure=not settings.serves_loopback)

    def _seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def _open(self, sealed: str | None) -> dict[str, Any] | None:
        if not sealed:
            return None
        try:
            value = json.loads(self._fernet.decrypt(sealed.encode()))
        except (InvalidToken, ValueError):
            return None  # tampered with, or sealed with a key no longer listed: as if absent
        return value if isinstance(value, dict) else None

    def session(self, sealed: str | None) -> PortalSession | None:
        value = self._open(sealed)
        try:
            return PortalSession(**value) if value else None
        except TypeError:
            return None

    def signin(self, sealed: str | None) -> SignIn | None:
        value = self._open(sealed)
        try:
            return SignIn(**value) if value else None
        except TypeError:
            return None

    def set_session(self, response: Response, session: PortalSession, now: datetime) -> None:
        max_age = max(int(session.ends_at - now.timestamp()), 0)
        self._set(response, SESSION_COOKIE, self._seal(asdict(session)), max_age)

    def set_signin(self, response: Response, signin: SignIn) -> None:
        self._set(response, SIGNIN_COOKIE, self._seal(asdict(signin)), SIGNIN_SECONDS)

    def _set(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(name, value, max_age=max_age, path=PATH, httponly=True, samesite="lax", secure=self.secure)

    def clear(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path=PATH, httponly=True, samesite="lax", secure=self.secure)
