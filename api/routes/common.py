from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.deps import authenticate

T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def authenticated_router(**kwargs: object) -> APIRouter:
    """Routes are authenticated by default: every /v1 router is made here."""
    return APIRouter(dependencies=[Depends(authenticate)], **kwargs)  # type: ignore[arg-type]


Cursor = Annotated[str | None, Query(description="opaque cursor from the previous page's next_cursor")]
Limit = Annotated[int, Query(ge=1, le=200, description="page size (at most 200)")]
