"""The web portal under /portal: Jinja2 pages over the same services and access rules as /v1,
signed in through the configured OIDC issuer (authorization code with PKCE)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.portal.oidc import OidcClient
from api.portal.routes import router
from api.portal.sessions import CookieSealer
from api.portal.web import Portal
from controlplane.composition import ApiRoot

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, runtime: ApiRoot) -> None:
    settings = runtime.settings
    app.state.portal = Portal(runtime=runtime, sealer=CookieSealer.from_settings(settings), oidc=OidcClient(settings))
    app.include_router(router)
    app.mount("/portal/static", StaticFiles(directory=STATIC), name="portal-static")
