"""Sahab as it runs in production, in subprocesses: the API (uvicorn) and Celery
workers against a real PostgreSQL and RabbitMQ, provisioning with the real Pulumi
engine on the local OpenStack. Missing parts fail the tests, never skip them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.e2e import CLOUD, clouds_yaml, toolchain_path
from tests.support.ports import free_port, wait_for_port
from tests.support.tenants import verified_org


class SahabStack:
    """API and workers as separate processes sharing one database, broker and data dir."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.port = int(env["SAHAB_PUBLIC_URL"].rsplit(":", 1)[1])
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.logs / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "api.server", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_api(self) -> None:
        self._spawn("api", "api")
        wait_for_port(self.port, 60, "Sahab API", f"see {self.logs / 'api.log'}")

    def start_worker(self, name: str, concurrency: int = 1) -> None:
        self._spawn(name, "worker", "--concurrency", str(concurrency), "--name", f"{name}@e2e")

    def kill(self, name: str) -> None:
        """SIGKILL the worker and everything it started (pool children, pulumi engine, provider)."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, name: str, tail: int | None = 4000) -> str:
        text = (self.logs / f"{name}.log").read_text(errors="replace")
        return text[-tail:] if tail else text


@pytest.fixture
def sahab(postgres_url, rabbitmq, issuer, tmp_path: Path) -> Iterator[SahabStack]:
    bin_dir = toolchain_path()
    env = dict(
        os.environ,
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        OS_CLIENT_CONFIG_FILE=clouds_yaml(),
        SAHAB_DATABASE_URL=postgres_url,
        SAHAB_BROKER_URL=rabbitmq.url,
        SAHAB_OIDC_ISSUER=issuer.url,
        SAHAB_PUBLIC_URL=f"http://127.0.0.1:{free_port()}",
        SAHAB_DATA_DIR=str(tmp_path / "data"),
        SAHAB_DEMO_ACCOUNTS="false",
        SAHAB_PROVISIONER="pulumi",
        SAHAB_PULUMI_PASSPHRASE="e2e-passphrase",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    (tmp_path / "metrics").mkdir()
    stack = SahabStack(env, tmp_path)
    stack.start_api()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def cloud() -> Iterator[Any]:
    import openstack

    os.environ["OS_CLIENT_CONFIG_FILE"] = clouds_yaml()
    connection = openstack.connect(cloud=CLOUD, api_timeout=60)
    yield connection
    connection.close()


@pytest.fixture
def api(sahab) -> httpx.Client:
    return httpx.Client(base_url=sahab.url, timeout=60)


@pytest.fixture
def tenant(api, issuer) -> tuple[dict[str, str], str]:
    """An owner's headers and the verified business organisation the owner registered."""
    # an hour: the slowest end-to-end tests outlast the issuer's default ten minutes
    owner = issuer.headers("nadia", lifetime=3600)
    return owner, verified_org(api, owner, issuer.headers("omar", roles=("operator", "approver")))
