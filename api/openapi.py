"""The OpenAPI document's error answers: each route lists the problem+json statuses it can give."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.utils import get_flat_params

from api.deps import authenticate
from api.guard import api_routes, calls
from api.problems import MEDIA_TYPE, Problem

_MEANING = {
    400: "The body could not be parsed.",
    401: "No valid bearer token (missing, expired, wrong issuer or audience, an ID token...).",
    403: "The caller's roles do not allow this.",
    404: "The object does not exist or the caller may not see it.",
    409: "Conflicts with the current state (transition, capacity, a concurrent change, an Idempotency-Key in progress).",
    413: "The body is larger than max_body_bytes.",
    422: "A parameter, header or body field is not valid (the problem says which).",
    503: "A dependency (database, broker, the issuer's keys) is unavailable; retry later.",
}


def document(app: FastAPI) -> None:
    """List each route's error answers in the OpenAPI document as problem+json, with the Problem schema."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
        }
        for route in api_routes(app):
            if not route.include_in_schema:
                continue
            authenticated = calls(route.dependant, authenticate)
            for method in route.methods:
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                statuses = _error_statuses(route, method, authenticated)
                if authenticated:
                    operation["security"] = [{"bearer": []}]
                responses = operation.setdefault("responses", {})
                for status in sorted(statuses):
                    responses[str(status)] = {
                        "description": _MEANING[status],
                        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error_statuses(route: Any, method: str, authenticated: bool) -> set[int]:
    statuses: set[int] = set()
    writes = method in {"POST", "PUT", "PATCH", "DELETE"}
    if authenticated:
        statuses |= {401, 403, 404, 503}
    if writes:
        statuses |= {400, 413, 422} | ({409} if authenticated else set())
    if route.body_field is not None or get_flat_params(route.dependant):
        statuses.add(422)
    if route.path == "/readyz":
        statuses.add(503)
    return statuses
