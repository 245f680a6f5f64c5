"""Real issuers for the verifier: a key host whose keys the test controls, and the built-in issuer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from api.auth import TokenVerifier
from api.issuer import create_issuer
from api.issuer.testing import BackgroundServer
from api.jose import JsonWebKey
from controlplane.clock import FrozenClock
from controlplane.settings import Settings
from tests.support.identity import isolated_settings

AUDIENCE = "sahab"


@pytest.fixture(scope="session")
def rsa_keys() -> list[Any]:
    """A few RSA keys generated once for the session (key generation is the slow part)."""
    return [JsonWebKey.generate_key("RSA", 2048, is_private=True) for _ in range(3)]


@dataclass
class KeyHost:
    """An OIDC issuer reduced to discovery + JWKS, whose published keys the test changes at will."""

    url: str  # the issuer URL (iss)
    published: dict[str, Any] = field(default_factory=dict)  # kid -> private key (only public parts served)
    jwks_status: int = 200
    discovery_fetches: int = 0
    jwks_fetches: int = 0

    def publish(self, kid: str, key: Any) -> None:
        self.published[kid] = key

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.published.items():
            public = key.as_dict(is_private=False)
            public.update(kid=kid, use="sig")
            keys.append(public)
        return {"keys": keys}


@pytest.fixture(scope="session")
def _key_host_server() -> Iterator[tuple[str, list[KeyHost]]]:
    """One server for the session; each test gets a fresh KeyHost behind it."""
    server = BackgroundServer()
    current: list[KeyHost] = []
    app = FastAPI()

    @app.get("/idp/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        host = current[0]
        host.discovery_fetches += 1
        return {"issuer": host.url, "jwks_uri": f"{host.url}/keys"}

    @app.get("/idp/keys")
    def keys() -> JSONResponse:
        host = current[0]
        host.jwks_fetches += 1
        if host.jwks_status != 200:
            return JSONResponse({"error": "boom"}, status_code=host.jwks_status)
        return JSONResponse(host.jwks())

    server.start(app)
    yield server.url, current
    server.stop()


@pytest.fixture
def key_host(_key_host_server: tuple[str, list[KeyHost]]) -> KeyHost:
    base_url, current = _key_host_server
    current[:] = [KeyHost(url=f"{base_url}/idp")]
    return current[0]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def verifier(key_host: KeyHost, clock: FrozenClock) -> Iterator[TokenVerifier]:
    v = TokenVerifier(
        issuer=key_host.url,
        audience=AUDIENCE,
        algorithms=["RS256", "PS256", "ES256", "EdDSA"],
        jwks_cache_seconds=3600,
        clock=clock,
    )
    yield v
    v.close()


@dataclass
class BuiltinIssuer:
    settings: Settings
    url: str


@pytest.fixture
def builtin_issuer(tmp_path: Path) -> Iterator[BuiltinIssuer]:
    server = BackgroundServer()
    settings = isolated_settings(server.url, tmp_path)
    parent = FastAPI()
    parent.mount("/issuer", create_issuer(settings))
    server.start(parent)
    yield BuiltinIssuer(settings=settings, url=settings.builtin_issuer_url)
    server.stop()
