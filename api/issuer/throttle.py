"""Rate limits and password lockouts of the built-in issuer, kept in the database.

One row per key ("device:client:sahab-cli", "login:address:203.0.113.7", ...) holds a
fixed-window counter, and for logins a lockout that doubles with each further strike.
The row is locked while it is read and changed (SELECT ... FOR UPDATE on PostgreSQL;
SQLite's BEGIN IMMEDIATE already serialises writers), so every API process counts
against the same limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from controlplane.persistence.models import IssuerThrottle


@dataclass(frozen=True)
class Limit:
    count: int  # allowed hits per window
    window: int  # seconds


@dataclass(frozen=True)
class Lockout:
    limit: Limit  # failures allowed per window before a lockout
    first: int  # seconds of the first lockout; doubled by each further strike
    longest: int


def _seconds_until(now: datetime, then: datetime) -> int:
    return max(1, math.ceil((then - now).total_seconds()))


def _row(session: Session, key: str, now: datetime) -> IssuerThrottle:
    """The key's row, created if missing, locked for this transaction."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(IssuerThrottle)
        .values(key=key, window_started_at=now, hits=0, strikes=0, locked_until=None, expires_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.scalars(
        select(IssuerThrottle)
        .where(IssuerThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return row


def _count(row: IssuerThrottle, now: datetime, window: int) -> None:
    if now >= row.window_started_at + timedelta(seconds=window):
        row.window_started_at, row.hits = now, 0
    row.hits += 1


def hit(session: Session, now: datetime, key: str, limit: Limit) -> int | None:
    """Count one hit; the seconds to wait when the limit is passed, else None."""
    row = _row(session, key, now)
    _count(row, now, limit.window)
    window_end = row.window_started_at + timedelta(seconds=limit.window)
    row.expires_at = max(row.expires_at, window_end)
    return _seconds_until(now, window_end) if row.hits > limit.count else None


def locked_for(session: Session, now: datetime, key: str) -> int | None:
    """Seconds left of the key's lockout, or None when it is not locked."""
    row = session.get(IssuerThrottle, key)
    if row is None or row.locked_until is None or now >= row.locked_until:
        return None
    return _seconds_until(now, row.locked_until)


def fail(session: Session, now: datetime, key: str, lockout: Lockout) -> None:
    """Count a failure; past the limit the key is locked (first, then twice as long each strike, up to longest)."""
    row = _row(session, key, now)
    _count(row, now, lockout.limit.window)
    if row.hits >= lockout.limit.count:
        seconds = min(lockout.first * 2 ** min(row.strikes, 30), lockout.longest)
        row.strikes += 1
        row.hits = 0
        row.locked_until = now + timedelta(seconds=seconds)
    # Strikes are remembered for a longest lockout after the last one ends, then forgotten.
    ends = [row.window_started_at + timedelta(seconds=lockout.limit.window)]
    if row.locked_until is not None:
        ends.append(row.locked_until + timedelta(seconds=lockout.longest))
    row.expires_at = max([row.expires_at, *ends])


def forgive(session: Session, key: str) -> None:
    """A right password clears its account's failures and strikes."""
    row = session.get(IssuerThrottle, key)
    if row is not None:
        session.delete(row)
