"""The real API with its built-in issuer served over HTTP for the CLI tests.

One server per session (a signing key and migrations cost time); tests stay
independent by using their own environment names. A stand-in worker runs the
real ProvisioningWorkflow in a thread after each approval: with the
"unavailable" provisioner (the approved request keeps waiting for provisioning)
unless the environment starts with "live", which gets the in-memory provisioner.
A second API trusts an outside OAuth server (tests/support/oauth.py) for sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from controlplane.composition import build_api
from controlplane.persistence.migrate import upgrade
from controlplane.settings import Settings
from tests.support.cli import PASSWORDS, Cli, External, Served, WorkerQueue, device_token
from tests.support.identity import ServerThread, isolated_settings
from tests.support.oauth import OAuthIssuer
from tests.support.ports import free_port


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("cli-api")
    port = free_port()
    url = f"sqlite:///{tmp / 'sahab.db'}"
    upgrade(url)
    settings = Settings(
        public_url=f"http://127.0.0.1:{port}",
        database_url=url,
        data_dir=tmp,
        broker_url="memory://",
        demo_accounts=True,
    )
    queue = WorkerQueue()
    runtime = build_api(settings, queue=queue)
    queue.runtime = runtime
    with ServerThread(create_app(settings, runtime=runtime), port=port) as server:
        yield Served(url=server.url, runtime=runtime, queue=queue)
        for thread in queue.threads:
            thread.join(timeout=10)
    runtime.engine.dispose()


@pytest.fixture(scope="session")
def tokens(served: Served) -> dict[str, str]:
    return {user: device_token(served.url, user) for user in PASSWORDS}


@pytest.fixture
def cli(served: Served, tokens: dict[str, str], tmp_path: Path) -> Cli:
    return Cli(served, tokens, tmp_path)


@pytest.fixture(scope="session")
def external_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[External]:
    tmp = tmp_path_factory.mktemp("cli-external")
    database = f"sqlite:///{tmp / 'sahab.db'}"
    upgrade(database)
    port = free_port()
    with OAuthIssuer() as issuer:
        settings = isolated_settings(
            f"http://127.0.0.1:{port}", tmp, oidc_issuer=issuer.url, demo_accounts=False, database_url=database
        )
        with ServerThread(create_app(settings), port=port) as server:
            yield External(url=server.url, issuer=issuer)


@pytest.fixture
def external(external_session: External) -> Iterator[External]:
    """The shared outside issuer, with its defaults back and its record cleared for each test."""
    issuer = external_session.issuer
    issuer.access_lifetime, issuer.rotate, issuer.revocation, issuer.auto_approve = 600, True, True, None
    issuer.calls.clear()
    yield external_session
