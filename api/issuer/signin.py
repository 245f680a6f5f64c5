"""Password sign-in on the issuer's pages, with guessing limited per account and per address.

Past settings.issuer_login_failures_per_account wrong passwords for one username (known
or not, so that the answer tells nothing about which accounts exist), or
settings.issuer_login_failures_per_address from one address, within
settings.issuer_login_window_seconds, that account or address is locked: every attempt,
even with the right password, is refused for settings.issuer_lockout_seconds, doubled at
each further lockout up to settings.issuer_lockout_max_seconds. A right password clears
its account's count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from api.issuer import throttle
from api.issuer.accounts import Accounts, DemoUser
from controlplane.settings import Settings


@dataclass(frozen=True)
class Locked:
    retry_after: int  # seconds


def _keys(username: str, address: str) -> tuple[str, str]:
    return f"login:account:{username.lower()}", f"login:address:{address}"


def sign_in(
    session: Session, now: datetime, settings: Settings, accounts: Accounts, username: str, password: str, address: str
) -> DemoUser | Locked | None:
    """The user, Locked while the account or address is locked, or None for wrong credentials."""
    account_key, address_key = _keys(username, address)
    waits = [w for w in (throttle.locked_for(session, now, k) for k in (account_key, address_key)) if w is not None]
    if waits:
        return Locked(max(waits))
    user = accounts.authenticate_user(username, password)
    if user is not None:
        throttle.forgive(session, account_key)
        return user
    window = settings.issuer_login_window_seconds
    for key, count in (
        (account_key, settings.issuer_login_failures_per_account),
        (address_key, settings.issuer_login_failures_per_address),
    ):
        throttle.fail(
            session,
            now,
            key,
            throttle.Lockout(
                throttle.Limit(count, window), settings.issuer_lockout_seconds, settings.issuer_lockout_max_seconds
            ),
        )
    return None


def count_failure(session: Session, now: datetime, settings: Settings, address: str) -> None:
    """A guess that named no pending sign-in (an unknown user code) counts against its address."""
    throttle.fail(
        session,
        now,
        _keys("", address)[1],
        throttle.Lockout(
            throttle.Limit(settings.issuer_login_failures_per_address, settings.issuer_login_window_seconds),
            settings.issuer_lockout_seconds,
            settings.issuer_lockout_max_seconds,
        ),
    )


def address_locked(session: Session, now: datetime, address: str) -> int | None:
    return throttle.locked_for(session, now, _keys("", address)[1])
