"""The FastAPI application: /v1 routes (authenticated by default), system endpoints,
and the built-in OIDC issuer mounted at /issuer when no external issuer is set."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from api import openapi, portal, problems
from api.auth.verifier import TokenVerifier
from api.guard import RequestGuard
from api.idempotency import IdempotencyMiddleware
from api.issuer import create_issuer
from api.observability import instrument_api
from api.routes import drift, organisations, programmes, projects, quota_requests, regions, statements, system, usage
from controlplane.composition import ApiRoot, build_api
from controlplane.demo import seed_demo
from controlplane.persistence.database import transaction
from controlplane.settings import Settings, get_settings


def create_app(
    settings: Settings | None = None, runtime: ApiRoot | None = None, verifier: object | None = None
) -> FastAPI:
    settings = settings or (runtime.settings if runtime else get_settings())
    runtime = runtime or build_api(settings)  # the API's composition root: never a provisioner
    runtime.prepare_database()
    if settings.demo_accounts and settings.uses_builtin_issuer:
        with transaction(runtime.sessions) as session:
            seed_demo(session, runtime.deps.clock)
    if verifier is None:
        verifier = TokenVerifier.from_settings(settings)

    app = FastAPI(
        title="Sahab",
        version="0.1.0",
        description="Self-service quota for the national sovereign OpenStack clouds. "
        "Errors are RFC 9457 problem+json, their title and detail in the Accept-Language chosen among en, fr "
        "and ar (type and every other member never change); POST accepts an Idempotency-Key header.",
    )
    app.state.runtime = runtime
    app.state.verifier = verifier
    problems.install(app)
    # The last added runs first: the guard authenticates and bounds the body before idempotency reads it.
    app.add_middleware(IdempotencyMiddleware, retention=timedelta(hours=settings.idempotency_retention_hours))
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    instrument_api(app, runtime)  # outermost: metrics, request ids, logs and traces see the guard's answers too
    for module in (system, regions, organisations, quota_requests, projects, usage, drift, statements, programmes):
        app.include_router(module.router)
    app.include_router(programmes.enrolments)
    openapi.document(app)
    portal.install(app, runtime)
    if settings.uses_builtin_issuer:
        app.mount("/issuer", create_issuer(settings, clock=runtime.deps.clock, sessions=runtime.sessions))
    return app
