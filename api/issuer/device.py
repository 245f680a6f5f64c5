"""Device authorization grants (RFC 8628), kept in process memory.

The built-in issuer serves one API process: grants live in this process only and
are lost on restart (a CLI that was mid-login simply starts again). Running
several API replicas needs an external identity provider (settings.oidc_issuer).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from api.issuer.accounts import DemoUser
from controlplane.clock import Clock

EXPIRES_IN = 600  # seconds a device code stays usable
INTERVAL = 2  # seconds the client must wait between polls
SLOW_DOWN_STEP = 5  # RFC 8628 3.5: add 5 s to the interval on slow_down
MAX_PENDING = 10_000  # memory bound: refuse new grants beyond this

# RFC 8628 6.1: no vowels (no words), no easily confused characters.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"


class GrantStatus(Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


class PollOutcome(Enum):
    PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    EXPIRED = "expired_token"
    DENIED = "access_denied"
    UNKNOWN = "invalid_grant"
    APPROVED = "approved"


@dataclass
class DeviceGrant:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: datetime
    interval: int = INTERVAL
    status: GrantStatus = GrantStatus.PENDING
    user: DemoUser | None = None
    last_poll: datetime | None = field(default=None)


def normalise_user_code(raw: str) -> str:
    """'abcd-efgh', 'ABCD EFGH' -> 'ABCDEFGH'."""
    return "".join(ch for ch in raw.upper() if ch.isalnum())


def format_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


class DeviceGrantStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_device: dict[str, DeviceGrant] = {}
        self._by_user: dict[str, DeviceGrant] = {}

    def start(self, client_id: str, scope: str) -> DeviceGrant:
        now = self._clock.now()
        with self._lock:
            self._purge(now)
            if len(self._by_device) >= MAX_PENDING:
                raise OverflowError("too many pending device authorizations")
            user_code = self._new_user_code()
            grant = DeviceGrant(
                device_code=secrets.token_urlsafe(32),
                user_code=user_code,
                client_id=client_id,
                scope=scope,
                expires_at=now + timedelta(seconds=EXPIRES_IN),
            )
            self._by_device[grant.device_code] = grant
            self._by_user[user_code] = grant
            return grant

    def pending(self, user_code: str) -> DeviceGrant | None:
        """The grant a person may still approve or deny under this user code, if any."""
        now = self._clock.now()
        with self._lock:
            grant = self._by_user.get(normalise_user_code(user_code))
            if grant is None or grant.status is not GrantStatus.PENDING or now >= grant.expires_at:
                return None
            return grant

    def decide(self, user_code: str, user: DemoUser | None) -> DeviceGrant | None:
        """Approve for `user`, or deny when user is None. None when the code is not pending."""
        now = self._clock.now()
        with self._lock:
            grant = self._by_user.get(normalise_user_code(user_code))
            if grant is None or grant.status is not GrantStatus.PENDING or now >= grant.expires_at:
                return None
            grant.status = GrantStatus.APPROVED if user else GrantStatus.DENIED
            grant.user = user
            return grant

    def poll(self, device_code: str, client_id: str) -> tuple[PollOutcome, DeviceGrant | None]:
        now = self._clock.now()
        with self._lock:
            grant = self._by_device.get(device_code)
            if grant is None or grant.client_id != client_id:
                return PollOutcome.UNKNOWN, None
            if now >= grant.expires_at:
                self._drop(grant)
                return PollOutcome.EXPIRED, None
            if grant.status is GrantStatus.DENIED:
                self._drop(grant)
                return PollOutcome.DENIED, None
            if grant.status is GrantStatus.APPROVED:
                self._drop(grant)  # a device code yields one token, once
                return PollOutcome.APPROVED, grant
            too_soon = grant.last_poll is not None and now - grant.last_poll < timedelta(seconds=grant.interval)
            grant.last_poll = now
            if too_soon:
                grant.interval += SLOW_DOWN_STEP
                return PollOutcome.SLOW_DOWN, grant
            return PollOutcome.PENDING, grant

    def _new_user_code(self) -> str:
        while True:
            code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
            if code not in self._by_user:
                return code

    def _drop(self, grant: DeviceGrant) -> None:
        self._by_device.pop(grant.device_code, None)
        self._by_user.pop(grant.user_code, None)

    def _purge(self, now: datetime) -> None:
        for grant in [g for g in self._by_device.values() if now >= g.expires_at + timedelta(seconds=EXPIRES_IN)]:
            self._drop(grant)
