"""Keyset pagination over (created_at, id): stable under inserts, opaque to callers."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from controlplane.errors import InvalidInput

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _encode(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created_at), str(row_id)
    except (ValueError, TypeError) as error:
        raise InvalidInput(f"invalid cursor {cursor!r}") from error


def check_limit(limit: int, maximum: int) -> int:
    if not 1 <= limit <= maximum:
        raise InvalidInput(f"limit must be between 1 and {maximum}, got {limit}")
    return limit


def paginate(session: Session, statement: Select[Any], model: Any, cursor: str | None, limit: int) -> Page[Any]:
    if cursor:
        created_at, row_id = _decode(cursor)
        statement = statement.where(
            or_(model.created_at > created_at, and_(model.created_at == created_at, model.id > row_id))
        )
    rows = list(session.scalars(statement.order_by(model.created_at, model.id).limit(limit + 1)))
    next_cursor = _encode(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)
