"""A built-in issuer served over real HTTP, mounted at /issuer as the API mounts it, on a real database
(SQLite and PostgreSQL: grants, rate limits and lockouts live there)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.issuer import create_issuer
from api.issuer.keys import key_path, load_or_create_signing_key
from api.issuer.testing import BackgroundServer
from controlplane.clock import FrozenClock
from controlplane.settings import Settings
from tests.support.identity import isolated_settings


@dataclass
class ServedIssuer:
    settings: Settings
    clock: FrozenClock
    url: str  # the issuer's public base URL, settings.builtin_issuer_url
    http: httpx.Client  # base_url = url


@pytest.fixture(scope="session")
def shared_signing_key(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """One RSA key for the session: generating a key per test would cost ~0.3 s each."""
    data_dir = tmp_path_factory.mktemp("shared-issuer")
    load_or_create_signing_key(data_dir)
    return key_path(data_dir).read_bytes()


@pytest.fixture
def serve_issuer(tmp_path: Path, shared_signing_key: bytes, database_url: str) -> Iterator[Callable[..., ServedIssuer]]:
    """Factory: serve_issuer(data_dir=..., clock=..., demo_accounts=...) -> ServedIssuer.

    Without data_dir, the issuer uses tmp_path seeded with the session's key;
    with data_dir, it uses (and if need be creates) the key found there. Every issuer
    of one test shares the test's database, as the API processes of one deployment do.
    """
    started: list[tuple[BackgroundServer, httpx.Client]] = []

    def serve(data_dir: Path | None = None, clock: FrozenClock | None = None, **overrides: object) -> ServedIssuer:
        if data_dir is None:
            data_dir = tmp_path
            path = key_path(data_dir)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(shared_signing_key)
                path.chmod(0o600)
        server = BackgroundServer()
        settings = isolated_settings(server.url, data_dir, database_url=database_url, **overrides)
        clock = clock or FrozenClock(datetime.now(UTC).replace(microsecond=0))
        parent = FastAPI()
        parent.mount("/issuer", create_issuer(settings, clock=clock))
        server.start(parent)
        http = httpx.Client(base_url=settings.builtin_issuer_url, timeout=5)
        started.append((server, http))
        return ServedIssuer(settings=settings, clock=clock, url=settings.builtin_issuer_url, http=http)

    yield serve
    for server, http in started:
        http.close()
        server.stop()


@pytest.fixture
def issuer(serve_issuer: Callable[..., ServedIssuer]) -> ServedIssuer:
    return serve_issuer()
