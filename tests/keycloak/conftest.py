"""One real Keycloak per test session (keycloak/start: dev mode, the repository's realm file), and
Sahab's API configured by the README's "Using Keycloak" recipe, served over HTTP for the CLI; beside it
Sahab's API with its built-in issuer, so that the interop suite (test_interop.py) runs against both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.auth.verifier import TokenVerifier
from controlplane.settings import Settings
from tests.support.identity import isolated_settings, served_api
from tests.support.interop import BuiltinProvider, KeycloakProvider, Provider
from tests.support.keycloak import KeycloakAdmin, KeycloakServer, Sahab, ShiftedClock, recipe_applied

MEASURED: list[str] = []  # what the session saw of Keycloak, printed in pytest's summary


@pytest.fixture(scope="session")
def keycloak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeycloakServer]:
    server = KeycloakServer(tmp_path_factory.mktemp("keycloak")).start()
    yield server
    if server.process is not None:
        memory = server.memory_kib()
        MEASURED.append(
            f"Keycloak started in {server.started_in:.0f} s; at the end of the session RSS "
            f"{memory['Rss'] / 1024:.0f} MiB, PSS {memory['Pss'] / 1024:.0f} MiB (log: {server.log})"
        )
    server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in MEASURED:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def kc_admin(keycloak: KeycloakServer) -> Iterator[KeycloakAdmin]:
    admin = KeycloakAdmin(keycloak.url)
    yield admin
    admin.close()


@pytest.fixture(scope="session")
def sahab(
    keycloak: KeycloakServer, kc_admin: KeycloakAdmin, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sahab]:
    tmp = tmp_path_factory.mktemp("sahab-keycloak")

    def settings_for(public_url: str, database_url: str) -> Settings:
        return recipe_applied(
            keycloak, public_url=public_url, database_url=database_url, data_dir=tmp / "data", broker_url="memory://"
        )

    with served_api(tmp, settings_for) as (url, settings, runtime):
        yield Sahab(url=url, settings=settings, runtime=runtime, keycloak=keycloak, admin=kc_admin)


@pytest.fixture
def shifted_verifier(sahab: Sahab) -> Iterator[tuple[TokenVerifier, ShiftedClock]]:
    clock = ShiftedClock()
    verifier = TokenVerifier.from_settings(sahab.settings, clock=clock)
    yield verifier, clock
    verifier.close()


@pytest.fixture(scope="session")
def builtin_sahab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltinProvider]:
    """The API with its built-in issuer at /issuer and the demo accounts, as `./dev run` serves it."""
    tmp = tmp_path_factory.mktemp("sahab-builtin")

    def settings_for(public_url: str, database_url: str) -> Settings:
        return isolated_settings(public_url, tmp / "data", database_url=database_url, demo_accounts=True)

    with served_api(tmp, settings_for) as (url, settings, _):
        yield BuiltinProvider(url=url, settings=settings)


@pytest.fixture(params=["builtin", "keycloak"])
def provider(request: pytest.FixtureRequest) -> Provider:
    """Each interop test once per identity provider (Keycloak starts only for its own runs)."""
    if request.param == "builtin":
        return request.getfixturevalue("builtin_sahab")
    return KeycloakProvider(request.getfixturevalue("sahab"))
