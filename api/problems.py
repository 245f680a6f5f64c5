"""RFC 9457 problem details: the one place core errors become HTTP responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import i18n
from api.i18n import N_, counted
from controlplane import errors

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:sahab:problem:"

# Most specific first: the first class the error is an instance of wins.
STATUS: list[tuple[type[errors.SahabError], int]] = [
    (errors.IdempotencyKeyReused, 422),
    (errors.PayloadTooLarge, 413),
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


class Problem(BaseModel):
    """RFC 9457 problem details; some problems add members (errors, checks, parameter...)."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description="urn:sahab:problem:<code>, stable")
    title: str
    status: int
    detail: str = Field(description="what was wrong, for a human")
    instance: str | None = Field(None, description="the path of the request")


# What each documented status means, for every route it applies to (see `document`).
def status_for(error: errors.SahabError) -> int:
    return next(status for cls, status in STATUS if isinstance(error, cls))


RETRY_AFTER_SECONDS = 2


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str | None = None,
    *,
    language: str = i18n.DEFAULT,
    **extra: Any,
) -> JSONResponse:
    """The problem in `language`: its title and detail translated, everything else as it is."""
    body = {
        "type": TYPE_PREFIX + code,
        "title": i18n.translate(title, language),
        "status": status,
        "detail": i18n.say(detail, language),
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    # The title and detail depend on Accept-Language: caches must not hand one reader's language to another.
    headers = {"Content-Language": language, "Vary": "Accept-Language"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if status == 503:  # unavailable for a moment (a database restart, a broker outage): say when to retry
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def problem_for(error: errors.SahabError, instance: str | None = None, language: str = i18n.DEFAULT) -> JSONResponse:
    return problem(status_for(error), error.code, error.title, error.detail, instance, language=language, **error.extra)


def language_of(request: Request) -> str:
    return i18n.negotiate(request.headers.get("accept-language"))


# Starlette's own answers (an unknown path, a wrong method...), by the phrase it gives as detail.
HTTP_PHRASES = (N_("Not Found"), N_("Method Not Allowed"), N_("Unsupported Media Type"), N_("Bad Request"))


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.SahabError)
    async def _sahab(request: Request, error: errors.SahabError) -> JSONResponse:
        return problem_for(error, request.url.path, language_of(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        language = language_of(request)
        issues = [
            {
                "location": ".".join(str(p) for p in e.get("loc", ())),
                "message": validation_message(e, language),
                "type": e.get("type", ""),
            }
            for e in error.errors()
        ]
        detail = "; ".join(f"{i['location']}: {i['message']}" for i in issues)
        return problem(
            422, "invalid-input", errors.InvalidInput.title, detail, request.url.path, language=language, errors=issues
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, f"http-{error.status_code}")
        return problem(
            error.status_code,
            code,
            str(error.detail),
            str(error.detail),
            request.url.path,
            language=language_of(request),
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, error: IntegrityError) -> JSONResponse:
        log.info("integrity error on %s: %s", request.url.path, error.orig)
        return problem(
            409,
            errors.Conflict.code,
            errors.Conflict.title,
            errors.Detail("a concurrent change conflicts with this request; read the current state and retry"),
            request.url.path,
            language=language_of(request),
        )

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, error: OperationalError) -> JSONResponse:
        log.warning("database error on %s: %s", request.url.path, error.orig)
        return problem(
            503,
            errors.DependencyUnavailable.code,
            errors.DependencyUnavailable.title,
            errors.Detail("the database is unavailable; retry later"),
            request.url.path,
            language=language_of(request),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(
            500,
            "internal-error",
            errors.SahabError.title,
            errors.Detail("an unexpected error occurred; it has been logged"),
            request.url.path,
            language=language_of(request),
        )


# Pydantic's messages for the checks Sahab's schemas use, as templates over the error's `ctx`. English
# keeps pydantic's own words; other languages get these translated. A check Sahab writes itself raises
# ValueError(Detail(...)), which is translated like any detail.
VALIDATION_MESSAGES = {
    "missing": N_("Field required"),
    "extra_forbidden": N_("Extra inputs are not permitted"),
    "string_type": N_("Input should be a valid string"),
    "string_pattern_mismatch": N_("String should match pattern '{pattern}'"),
    "int_type": N_("Input should be a valid integer"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "greater_than": N_("Input should be greater than {gt}"),
    "less_than": N_("Input should be less than {lt}"),
    "enum": N_("Input should be {expected}"),
    "literal_error": N_("Input should be {expected}"),
    "dict_type": N_("Input should be a valid dictionary"),
    "model_attributes_type": N_("Input should be a valid dictionary or object to extract fields from"),
    "json_invalid": N_("JSON decode error"),
    "datetime_from_date_parsing": N_("Input should be a valid datetime or date"),
    "url_parsing": N_("Input should be a valid URL"),
}


# Those whose wording depends on a number of the `ctx` (Arabic has six forms, French three).
COUNTED_VALIDATION_MESSAGES = {
    "string_too_short": (
        "min_length",
        counted(
            "String should have at least {min_length} character", "String should have at least {min_length} characters"
        ),
    ),
    "string_too_long": (
        "max_length",
        counted(
            "String should have at most {max_length} character", "String should have at most {max_length} characters"
        ),
    ),
}


def validation_message(error: dict[str, Any], language: str) -> str:
    """One validation error's message in the language."""
    if language == i18n.DEFAULT:
        return str(error.get("msg", ""))
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ValueError) and cause.args and isinstance(cause.args[0], errors.Detail):
        return i18n.say(cause.args[0], language)
    message, kind, context = str(error.get("msg", "")), str(error.get("type", "")), error.get("ctx") or {}
    if kind in COUNTED_VALIDATION_MESSAGES:
        name, (singular, plural) = COUNTED_VALIDATION_MESSAGES[kind]
        detail = errors.Detail.counted(singular, plural, int(context.get(name, 0)), **context)
        return i18n.say(detail, language)
    template = VALIDATION_MESSAGES.get(kind)
    if template is None:
        return message
    try:
        return i18n.translate(template, language).format(**context)
    except (KeyError, IndexError, ValueError):
        return message
