from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from api.deps import authenticate
from controlplane.pagination import MAX_CURSOR_LENGTH, check_limit

T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def authenticated_router(**kwargs: object) -> APIRouter:
    """Routes are authenticated by default: every /v1 router is made here."""
    return APIRouter(dependencies=[Depends(authenticate)], **kwargs)  # type: ignore[arg-type]


def page_limit(
    request: Request,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            description="page size (default page_size_default, at most page_size_max: 50 and 200 unless the operator changed them)",
        ),
    ] = None,
) -> int:
    """The page size: the operator's default when the caller names none, refused past the maximum."""
    settings = request.app.state.runtime.settings
    return settings.page_size_default if limit is None else check_limit(limit, settings.page_size_max)


Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="opaque cursor from the previous page's next_cursor")
]
# A dependency: a default written after `limit: Limit` in a route is not used; the settings decide.
Limit = Annotated[int, Depends(page_limit)]
