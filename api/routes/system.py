"""Unauthenticated endpoints: health, readiness, metrics and what a client needs to log in."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text

from api.problems import problem
from controlplane.metrics import render

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers (liveness)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> Any:
    """The database and the broker answer (readiness)."""
    runtime = request.app.state.runtime
    checks: dict[str, str] = {}
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            await run_in_threadpool(check, runtime)
            checks[name] = "ok"
        except Exception as error:  # any failure makes the instance not ready
            checks[name] = f"{type(error).__name__}: {error}"
    if all(v == "ok" for v in checks.values()):
        return {"status": "ready", "checks": checks}
    return problem(503, "not-ready", "Not ready", "; ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok"), "/readyz", checks=checks)


def _check_database(runtime: Any) -> None:
    with runtime.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _check_broker(runtime: Any) -> None:
    ping = getattr(runtime.core.queue, "ping", None)
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
        "issuer": settings.oidc_issuer, "audience": settings.oidc_audience,
        "cli_client_id": settings.cli_client_id, "builtin_issuer": settings.uses_builtin_issuer,
        "provisioner": settings.provisioner,
    }
