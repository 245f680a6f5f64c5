"""Shared fixtures. Tests run against real databases: SQLite (the embedded default)
and a real PostgreSQL server started for the session; a real RabbitMQ where a
test needs a broker. A part that cannot start fails the run, it is never skipped."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Counters must be shared across processes in the tests that start workers.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="sahab-metrics-"))

from fastapi.testclient import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402
from api.auth.verifier import TokenVerifier  # noqa: E402
from controlplane.composition import ApiRoot, build_api  # noqa: E402
from controlplane.persistence.migrate import upgrade  # noqa: E402
from controlplane.settings import Settings  # noqa: E402
from tests.support.fakes import RecordingQueue  # noqa: E402
from tests.support.identity import TestIssuer  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.rabbitmq import RabbitServer  # noqa: E402

TEMPLATE = "sahab_template"

# Tests under these folders need a real part besides SQLite; `./dev test unit` leaves them out.
_FOLDER_MARKERS = {
    "helm": "helm",
    "monitoring": "prometheus",
    "toolchain": "pulumi",
    "keycloak": "keycloak",
    "image": "podman",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the real parts its fixtures start, so `-m` can select the ones that need none."""
    tests_root = Path(__file__).resolve().parent
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if "postgres" in fixtures or (callspec is not None and callspec.params.get("database_url") == "postgres"):
            item.add_marker(pytest.mark.postgres)
        if "rabbitmq" in fixtures:
            item.add_marker(pytest.mark.rabbitmq)
        folder = item.path.resolve().relative_to(tests_root).parts[0]
        if folder in _FOLDER_MARKERS:
            item.add_marker(getattr(pytest.mark, _FOLDER_MARKERS[folder]))


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    template_url = server.admin_url.rsplit("/", 1)[0] + "/" + TEMPLATE
    import psycopg

    with psycopg.connect(server.admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        connection.execute(f'CREATE DATABASE "{TEMPLATE}"')
    upgrade(template_url)
    from sqlalchemy import create_engine

    create_engine(template_url.replace("postgresql://", "postgresql+psycopg://")).dispose()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitServer]:
    server = RabbitServer(tmp_path_factory.mktemp("rabbitmq")).start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> Iterator[str]:
    url = postgres.create_database(template=TEMPLATE)
    yield url
    postgres.drop_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite database migrated to head per session (per xdist worker), copied for every test: the
    copy is a file copy, where running the migrations again cost a tenth of a second of CPU per test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "sahab.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "sahab.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on each real database."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="session")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


@pytest.fixture
def settings(database_url: str, issuer: TestIssuer, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        oidc_issuer=issuer.url,
        broker_url="memory://",
        demo_accounts=False,
    )


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def runtime(settings: Settings, queue: RecordingQueue) -> Iterator[ApiRoot]:
    built = build_api(settings, queue=queue)
    yield built
    built.engine.dispose()


@pytest.fixture
def client(runtime: ApiRoot, settings: Settings) -> Iterator[TestClient]:
    verifier = TokenVerifier.from_settings(settings)
    with TestClient(create_app(runtime=runtime, verifier=verifier), raise_server_exceptions=False) as test_client:
        yield test_client
