"""RFC 9457 problem details: the one place core errors become HTTP responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from controlplane import errors

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:sahab:problem:"

# Most specific first: the first class the error is an instance of wins.
STATUS: list[tuple[type[errors.SahabError], int]] = [
    (errors.IdempotencyKeyReused, 422),
    (errors.InvalidInput, 422),
    (errors.AuthenticationFailed, 401),
    (errors.PermissionDenied, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.ProvisionerUnavailable, 503),
    (errors.DependencyUnavailable, 503),
    (errors.ProvisioningError, 502),
    (errors.SahabError, 500),
]


def status_for(error: errors.SahabError) -> int:
    return next(status for cls, status in STATUS if isinstance(error, cls))


RETRY_AFTER_SECONDS = 2


def problem(status: int, code: str, title: str, detail: str, instance: str | None = None, **extra: Any) -> JSONResponse:
    body = {"type": TYPE_PREFIX + code, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    if status == 503:  # unavailable for a moment (a database restart, a broker outage): say when to retry
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.SahabError)
    async def _sahab(request: Request, error: errors.SahabError) -> JSONResponse:
        return problem(status_for(error), error.code, error.title, error.detail, request.url.path, **error.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        issues = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
            for e in error.errors()
        ]
        detail = "; ".join(f"{i['location']}: {i['message']}" for i in issues)
        return problem(422, "invalid-input", errors.InvalidInput.title, detail, request.url.path, errors=issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, f"http-{error.status_code}")
        return problem(error.status_code, code, str(error.detail), str(error.detail), request.url.path)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, error: IntegrityError) -> JSONResponse:
        log.info("integrity error on %s: %s", request.url.path, error.orig)
        return problem(409, errors.Conflict.code, errors.Conflict.title,
                       "a concurrent change conflicts with this request; read the current state and retry", request.url.path)

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, error: OperationalError) -> JSONResponse:
        log.warning("database error on %s: %s", request.url.path, error.orig)
        return problem(503, errors.DependencyUnavailable.code, errors.DependencyUnavailable.title,
                       "the database is unavailable; retry later", request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal-error", "Internal error", "an unexpected error occurred; it has been logged", request.url.path)
