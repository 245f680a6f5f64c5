"""Keyset pagination over (created_at, id): stable under inserts, opaque to callers."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from controlplane.errors import Detail, InvalidInput

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _encode(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# A cursor this module made is about 100 characters; anything much longer was not made here.
MAX_CURSOR_LENGTH = 256


def _decode(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; InvalidInput for anything this module did not make."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidInput(
            Detail(
                "invalid cursor: longer than {max_length} characters; pass next_cursor as it was given",
                max_length=MAX_CURSOR_LENGTH,
            ),
            parameter="cursor",
        )
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded))
        created_at, row_id = decoded
        if not isinstance(created_at, str) or not isinstance(row_id, str):
            raise TypeError("not a pair of strings")
        position = datetime.fromisoformat(created_at)
        if position.tzinfo is not None:
            position = position.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, RecursionError) as error:
        raise InvalidInput(
            Detail("invalid cursor {cursor!r}: pass next_cursor as it was given", cursor=cursor), parameter="cursor"
        ) from error
    if position.tzinfo is None:
        raise InvalidInput(
            Detail(
                "invalid cursor {cursor!r}: its time has no offset; pass next_cursor as it was given", cursor=cursor
            ),
            parameter="cursor",
        )
    return position, row_id


def check_limit(limit: int, maximum: int) -> int:
    if not 1 <= limit <= maximum:
        raise InvalidInput(
            Detail("limit must be between 1 and {maximum} (page_size_max), got {limit}", maximum=maximum, limit=limit),
            parameter="limit",
        )
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
