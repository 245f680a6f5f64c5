"""A real OIDC issuer for tests: an RSA key, discovery and JWKS served over HTTP.

Tokens are signed with authlib; Sahab's real verifier fetches the JWKS by
discovery exactly as it does against an external identity provider."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from authlib.jose import JsonWebKey, jwt
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.ports import free_port, wait_for_port


class ServerThread:
    """Any ASGI app served by uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        wait_for_port(self.port, 20, "test server")
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class TestIssuer:
    __test__ = False
    audience = "sahab"

    def __init__(self) -> None:
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "test-key-1"})
        self.jwks_fetches = 0
        self.server = ServerThread(
            Starlette(
                routes=[
                    Route("/.well-known/openid-configuration", self._discovery),
                    Route("/jwks", self._jwks),
                ]
            )
        )

    @property
    def url(self) -> str:
        return self.server.url

    async def _discovery(self, _request: Any) -> JSONResponse:
        return JSONResponse({"issuer": self.url, "jwks_uri": f"{self.url}/jwks"})

    async def _jwks(self, _request: Any) -> JSONResponse:
        self.jwks_fetches += 1
        return JSONResponse({"keys": [self.key.as_dict(is_private=False)]})

    def token(
        self,
        subject: str,
        *,
        roles: tuple[str, ...] = (),
        organisations: tuple[str, ...] = (),
        lifetime: int = 600,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": self.url,
            "sub": subject,
            "aud": self.audience,
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
            "name": subject.title(),
            "sahab_roles": list(roles),
            "sahab_orgs": list(organisations),
            **claims,
        }
        header = {"alg": "RS256", "kid": self.key.as_dict()["kid"], "typ": "at+jwt"}  # an RFC 9068 access token
        return jwt.encode(header, payload, self.key).decode()

    def headers(self, subject: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, **kwargs)}"}

    def __enter__(self) -> TestIssuer:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


def isolated_settings(base_url: str, data_dir: Any, **overrides: Any) -> Any:
    """Settings with every identity setting explicit, so that SAHAB_* variables of the
    caller's shell change nothing; the built-in issuer is served at {base_url}/issuer."""
    from controlplane.settings import Settings

    values: dict[str, Any] = dict(
        public_url=base_url,
        data_dir=data_dir,
        oidc_issuer="",
        oidc_audience="sahab",
        oidc_algorithms=["RS256", "PS256", "ES256", "EdDSA"],
        oidc_roles_claim="sahab_roles",
        oidc_orgs_claim="sahab_orgs",
        oidc_jwks_cache_seconds=3600,
        cli_client_id="sahab-cli",
        demo_accounts=True,
        database_url="sqlite://",
        broker_url="memory://",
    )
    values.update(overrides)
    return Settings(**values)


@contextmanager
def served_api(tmp: Path, settings_for: Callable[[str, str], Any], queue: Any = None) -> Iterator[tuple[str, Any, Any]]:
    """Sahab's API on a fresh, migrated SQLite database, served over HTTP in a thread until the block ends.
    `settings_for(public_url, database_url)` makes its settings; yields (url, settings, runtime)."""
    from api.app import create_app
    from controlplane.composition import build_api
    from controlplane.persistence.migrate import upgrade
    from tests.support.fakes import RecordingQueue

    port = free_port()
    database_url = f"sqlite:///{tmp / 'sahab.db'}"
    upgrade(database_url)
    settings = settings_for(f"http://127.0.0.1:{port}", database_url)
    runtime = build_api(settings, queue=queue if queue is not None else RecordingQueue())
    try:
        with ServerThread(create_app(settings, runtime=runtime), port=port) as server:
            yield server.url, settings, runtime
    finally:
        runtime.engine.dispose()
