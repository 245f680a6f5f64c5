"""Unauthenticated endpoints: health, readiness, metrics and what a client needs to log in."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text

from api.deps import authenticate
from api.i18n import N_
from api.problems import language_of, problem
from controlplane.errors import SahabError
from controlplane.metrics import render

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers (liveness)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> Any:
    """The database and the broker answer (readiness). Why a check failed (with the database's and
    broker's addresses) is shown to operators only (a bearer token with the operator role)."""
    runtime = request.app.state.runtime
    failures: dict[str, str] = {}
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            await run_in_threadpool(check, runtime)
        except Exception as error:  # any failure makes the instance not ready
            failures[name] = f"{type(error).__name__}: {error}"
    if not failures:
        return {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
    if not await _is_operator(request):
        failures = {name: "unavailable" for name in failures}
    checks = {name: failures.get(name, "ok") for name in ("database", "broker")}
    return problem(
        503,
        "not-ready",
        N_("Not ready"),
        "; ".join(f"{k}: {v}" for k, v in failures.items()),
        "/readyz",
        language=language_of(request),
        checks=checks,
    )


async def _is_operator(request: Request) -> bool:
    if "authorization" not in request.headers:
        return False
    try:
        return (await authenticate(request)).is_operator
    except SahabError:
        return False


def _check_database(runtime: Any) -> None:
    with runtime.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _check_broker(runtime: Any) -> None:
    ping = getattr(runtime.deps.queue, "ping", None)
    if ping is not None:
        ping()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    payload = render(request.app.state.runtime.collectors)
    return Response(payload, media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/v1/meta")
def meta(request: Request) -> dict[str, Any]:
    """What a client needs before it has a token: the issuer, audience and the CLI's client id."""
    settings = request.app.state.runtime.settings
    return {
        "issuer": settings.oidc_issuer,
        "audience": settings.oidc_audience,
        "cli_client_id": settings.cli_client_id,
        "builtin_issuer": settings.uses_builtin_issuer,
        "provisioner": settings.provisioner,
    }
