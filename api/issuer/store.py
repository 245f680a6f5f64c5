"""The issuer's grants in the database: pending device grants, authorization codes, refresh tokens.

Every API process reads and writes the same rows, so a device sign-in started on one
process is approved on a second and redeemed on a third. Each secret is stored as its
SHA-256 digest and looked up by primary key or a unique index: no operation scans the
pending grants. A code or token is spent by a conditional UPDATE/DELETE whose row count
says who won, so two processes racing for it never both issue a token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, delete, select, update
from sqlalchemy.orm import Session

from controlplane.persistence.models import (
    IssuerAuthorizationCode,
    IssuerDeviceGrant,
    IssuerRefreshToken,
    IssuerThrottle,
)

DEVICE_CODE_SECONDS = 600  # a device code stays usable this long
AUTHORIZATION_CODE_SECONDS = 60  # RFC 6749 4.1.2: short-lived
INTERVAL = 2  # seconds a device client waits between polls
SLOW_DOWN_STEP = 5  # RFC 8628 3.5: add 5 s to the interval on slow_down
PURGE_BATCH = 100  # expired rows deleted per request, per table: bounded work
EXPIRED_GRACE = 60  # an expired device grant is kept this long, so that its poller learns `expired_token`

# RFC 8628 6.1: no vowels (no words), no easily confused characters.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8


def _affected(session: Session, statement: Executable) -> int:
    """Rows changed by an UPDATE or DELETE: 1 for the one caller that won a race for a row, 0 for the others."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def normalise_user_code(raw: str) -> str:
    """'bcdf-ghjk', 'BCDF GHJK' -> 'BCDFGHJK'."""
    return "".join(ch for ch in raw.upper() if ch.isalnum())


def format_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


class DeviceStatus(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


@dataclass(frozen=True)
class NewDeviceGrant:
    device_code: str
    user_code: str  # formatted, as shown to the person
    interval: int
    expires_in: int


def start_device_grant(session: Session, now: datetime, client_id: str, scope: str) -> NewDeviceGrant:
    """Store a pending grant. The user code is unique (a unique index); a collision (1 in 2.5e10 per
    pending grant) is detected by one indexed lookup and retried."""
    while True:
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
        if session.scalar(select(IssuerDeviceGrant.user_code).where(IssuerDeviceGrant.user_code == user_code)) is None:
            break
    device_code = secrets.token_urlsafe(32)
    session.add(
        IssuerDeviceGrant(
            device_code_hash=digest(device_code),
            user_code=user_code,
            client_id=client_id,
            scope=scope,
            expires_at=now + timedelta(seconds=DEVICE_CODE_SECONDS),
            interval=INTERVAL,
            last_poll_at=None,
            status=DeviceStatus.PENDING.value,
            subject=None,
        )
    )
    session.flush()
    return NewDeviceGrant(device_code, format_user_code(user_code), INTERVAL, DEVICE_CODE_SECONDS)


def device_grant(session: Session, device_code: str) -> IssuerDeviceGrant | None:
    return session.get(IssuerDeviceGrant, digest(device_code))


def pending_by_user_code(session: Session, now: datetime, user_code: str) -> IssuerDeviceGrant | None:
    """The grant a person may still approve or deny under this user code, if any."""
    code = normalise_user_code(user_code)
    if len(code) != USER_CODE_LENGTH:
        return None
    grant = session.scalar(select(IssuerDeviceGrant).where(IssuerDeviceGrant.user_code == code))
    if grant is None or grant.status != DeviceStatus.PENDING.value or now >= grant.expires_at:
        return None
    return grant


def decide_device_grant(session: Session, now: datetime, grant: IssuerDeviceGrant, subject: str, approve: bool) -> bool:
    """Approve or deny for `subject`; False when the grant stopped being pending meanwhile (another process)."""
    status = DeviceStatus.APPROVED if approve else DeviceStatus.DENIED
    affected = _affected(
        session,
        (
            update(IssuerDeviceGrant)
            .where(
                IssuerDeviceGrant.device_code_hash == grant.device_code_hash,
                IssuerDeviceGrant.status == DeviceStatus.PENDING.value,
                IssuerDeviceGrant.expires_at > now,
            )
            .values(status=status.value, subject=subject)
            .execution_options(synchronize_session=False)
        ),
    )
    return affected == 1


def record_poll(session: Session, now: datetime, grant: IssuerDeviceGrant) -> bool:
    """Note this poll; True when it came sooner than the grant's interval (the interval then grows by 5 s)."""
    too_soon = grant.last_poll_at is not None and now - grant.last_poll_at < timedelta(seconds=grant.interval)
    grant.last_poll_at = now
    if too_soon:
        grant.interval += SLOW_DOWN_STEP
    session.flush()
    return too_soon


def spend_device_grant(session: Session, grant: IssuerDeviceGrant, status: DeviceStatus) -> bool:
    """Delete a decided grant; True for the one caller that did (a device code yields one answer, once)."""
    affected = _affected(
        session,
        (
            delete(IssuerDeviceGrant)
            .where(
                IssuerDeviceGrant.device_code_hash == grant.device_code_hash, IssuerDeviceGrant.status == status.value
            )
            .execution_options(synchronize_session=False)
        ),
    )
    return affected == 1


# ---------------------------------------------------------------- authorization codes


def save_authorization_code(
    session: Session,
    now: datetime,
    code: str,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    subject: str,
    code_challenge: str,
    code_challenge_method: str,
) -> None:
    session.add(
        IssuerAuthorizationCode(
            code_hash=digest(code),
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            subject=subject,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            expires_at=now + timedelta(seconds=AUTHORIZATION_CODE_SECONDS),
        )
    )
    session.flush()


def spend_authorization_code(
    session: Session, now: datetime, code: str, client_id: str
) -> IssuerAuthorizationCode | None:
    """The code, for the first caller only and before it expires. A code used again is a stolen or replayed
    one: the refresh tokens the first use got are revoked (RFC 6749 4.1.2)."""
    row = session.get(IssuerAuthorizationCode, digest(code))
    if row is None or row.client_id != client_id:
        return None
    affected = _affected(
        session,
        (
            update(IssuerAuthorizationCode)
            .where(IssuerAuthorizationCode.code_hash == row.code_hash, IssuerAuthorizationCode.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    if affected != 1:
        session.refresh(row)
        if row.family_id is not None:
            revoke_family(session, now, row.family_id)
        return None
    return row if now < row.expires_at else None


def link_code_to_family(session: Session, code_hash: str, family_id: str) -> None:
    """Remember which sign-in a code started, so that its reuse can end it."""
    session.execute(
        update(IssuerAuthorizationCode)
        .where(IssuerAuthorizationCode.code_hash == code_hash)
        .values(family_id=family_id)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- refresh tokens


def save_refresh_token(
    session: Session,
    now: datetime,
    token: str,
    *,
    client_id: str,
    subject: str,
    scope: str,
    lifetime: int,
    family_id: str | None = None,
    family_expires_at: datetime | None = None,
    session_max: int = 0,
) -> IssuerRefreshToken:
    """Store a refresh token; without family_id it starts a new family (a new sign-in) ending session_max later."""
    family_end = family_expires_at or now + timedelta(seconds=session_max)
    row = IssuerRefreshToken(
        token_hash=digest(token),
        family_id=family_id or secrets.token_hex(16),
        client_id=client_id,
        subject=subject,
        scope=scope,
        issued_at=now,
        expires_at=min(now + timedelta(seconds=lifetime), family_end),
        family_expires_at=family_end,
        rotated_at=None,
        revoked_at=None,
    )
    session.add(row)
    session.flush()
    return row


def refresh_token(session: Session, token: str) -> IssuerRefreshToken | None:
    return session.get(IssuerRefreshToken, digest(token))


def rotate_refresh_token(session: Session, now: datetime, row: IssuerRefreshToken) -> bool:
    """Mark a live token used; False when it was already used or revoked (by this or another process)."""
    affected = _affected(
        session,
        (
            update(IssuerRefreshToken)
            .where(
                IssuerRefreshToken.token_hash == row.token_hash,
                IssuerRefreshToken.rotated_at.is_(None),
                IssuerRefreshToken.revoked_at.is_(None),
            )
            # Kept until the family ends, so that its reuse is still recognised (and revokes the family).
            .values(rotated_at=now, expires_at=IssuerRefreshToken.family_expires_at)
            .execution_options(synchronize_session=False)
        ),
    )
    return affected == 1


def revoke_family(session: Session, now: datetime, family_id: str) -> None:
    session.execute(
        update(IssuerRefreshToken)
        .where(IssuerRefreshToken.family_id == family_id, IssuerRefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- housekeeping


def purge_expired(session: Session, now: datetime) -> None:
    """Delete up to PURGE_BATCH expired rows per table, oldest first, through the expires_at index.

    Called whenever a grant or refresh token is stored, so expired grants go within seconds
    on a busy issuer (device grants a minute after they expire), and each call's work is
    bounded whatever the table holds.
    """
    for model, column, grace in (
        (IssuerDeviceGrant, IssuerDeviceGrant.expires_at, EXPIRED_GRACE),
        (IssuerAuthorizationCode, IssuerAuthorizationCode.expires_at, 0),
        (IssuerRefreshToken, IssuerRefreshToken.expires_at, 0),
        (IssuerThrottle, IssuerThrottle.expires_at, 0),
    ):
        key = model.__mapper__.primary_key[0]
        expired = select(key).where(column < now - timedelta(seconds=grace)).order_by(column).limit(PURGE_BATCH)
        session.execute(delete(model).where(key.in_(expired)).execution_options(synchronize_session=False))
