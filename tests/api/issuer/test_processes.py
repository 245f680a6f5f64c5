"""Several API processes serve one issuer: its grants, limits and lockouts are in the database.

Two issuer applications with their own engines on one database stand for two processes; the last
test runs the real `sahab-server api --workers 2` on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import issuer_flows as flows
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import stop

pytestmark = pytest.mark.processes


@pytest.fixture
def pair(serve_issuer):
    first = serve_issuer()
    second = serve_issuer(clock=first.clock)
    return first, second


def test_a_device_sign_in_moves_between_processes(pair):
    first, second = pair
    started = flows.start_device(first.http)
    assert flows.poll(second.http, started["device_code"]).json()["error"] == "authorization_pending"
    assert flows.decide(second.http, started["user_code"]).status_code == 200
    first.clock.advance(seconds=3)
    tokens = flows.poll(first.http, started["device_code"]).json()
    assert flows.decode(second.http, tokens["access_token"])["sub"] == "amina"
    # The refresh token rotates on either process, and reuse is seen by the other.
    rotated = flows.refresh(second.http, tokens["refresh_token"]).json()
    assert flows.refresh(first.http, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert flows.refresh(second.http, rotated["refresh_token"]).json()["error"] == "invalid_grant"


def test_one_token_per_device_code_when_processes_race(pair):
    started = flows.start_device(pair[0].http)
    assert flows.decide(pair[1].http, started["user_code"]).status_code == 200
    barrier = threading.Barrier(8)
    answers: list[int] = []

    def poll(issuer) -> None:
        with httpx.Client(base_url=issuer.url, timeout=10) as http:
            barrier.wait()
            answers.append(flows.poll(http, started["device_code"]).status_code)

    threads = [threading.Thread(target=poll, args=(pair[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200] + [400] * 7


def test_limits_and_lockouts_are_shared(serve_issuer):
    first = serve_issuer(issuer_device_starts_per_address=2)
    second = serve_issuer(clock=first.clock, issuer_device_starts_per_address=2)
    started = flows.start_device(first.http)
    flows.start_device(second.http)
    assert first.http.post("/device_authorization", data={"client_id": "sahab-cli"}).status_code == 429
    for i in range(5):
        flows.decide((first, second)[i % 2].http, started["user_code"], password=f"guess-{i}")
    assert flows.decide(second.http, started["user_code"]).status_code == 429
    assert flows.decide(first.http, started["user_code"]).status_code == 429


@pytest.fixture
def api_workers(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """`sahab-server api --workers 2` on PostgreSQL, with the built-in issuer and demo accounts."""
    port = free_port()
    env = dict(
        os.environ,
        SAHAB_DATABASE_URL=postgres_url,
        SAHAB_PUBLIC_URL=f"http://127.0.0.1:{port}",
        SAHAB_DATA_DIR=str(tmp_path / "data"),
        SAHAB_OIDC_ISSUER="",
        SAHAB_DEMO_ACCOUNTS="true",
        SAHAB_BROKER_URL="memory://",
        SAHAB_PROVISIONER="unavailable",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )
    subprocess.run([sys.executable, "-m", "api.server", "migrate"], env=env, check=True, capture_output=True)
    log = open(tmp_path / "api.log", "wb")
    api = subprocess.Popen(
        [sys.executable, "-m", "api.server", "api", "--workers", "2"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port, 60, "Sahab API", f"see {tmp_path / 'api.log'}")
        yield f"http://127.0.0.1:{port}/issuer"
    finally:
        stop([api])
        log.close()


def test_device_sign_in_on_two_uvicorn_workers(api_workers):
    """Each request on a new connection, so the kernel spreads them over both workers."""

    def fresh() -> httpx.Client:
        return httpx.Client(base_url=api_workers, timeout=10, headers={"Connection": "close"})

    with fresh() as http:
        for _ in range(4):
            started = flows.start_device(http)
            assert flows.decide(http, started["user_code"], "salma", "salma-demo").status_code == 200
            response = flows.poll(http, started["device_code"])
            assert response.status_code == 200, response.text
            assert flows.decode(http, response.json()["access_token"])["sahab_roles"] == ["approver", "operator"]
            assert flows.refresh(http, response.json()["refresh_token"]).status_code == 200
