"""The request flow end to end on real servers: PostgreSQL, RabbitMQ, two API
processes (uvicorn) and a Celery worker process, driven over HTTP.

Until a real provisioner is configured, the worker leaves the approved request
waiting with the reason; the metrics are summed across the processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port, wait_for_port
from tests.support.processes import stop
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


@pytest.fixture
def stack(postgres_url, rabbitmq, issuer, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = dict(
        os.environ,
        SAHAB_DATABASE_URL=postgres_url,
        SAHAB_BROKER_URL=rabbitmq.url,
        SAHAB_OIDC_ISSUER=issuer.url,
        SAHAB_PUBLIC_URL=f"http://127.0.0.1:{port}",
        SAHAB_DATA_DIR=str(tmp_path / "data"),
        SAHAB_DEMO_ACCOUNTS="false",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        # This test is about the broker path; real provisioning is tested in test_provisioning_real.py.
        SAHAB_PROVISIONER="unavailable",
    )
    logs = {name: open(tmp_path / f"{name}.log", "wb") for name in ("api", "worker")}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "api.server", "api", "--workers", "2"],
            env=env,
            stdout=logs["api"],
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "api.server", "worker", "--concurrency", "1"],
            env=env,
            stdout=logs["worker"],
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        wait_for_port(port, 60, "Sahab API", f"see {tmp_path / 'api.log'}")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(processes)


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^(\w+)\{([^}]*)\} (\S+)$", line)
        if match and match[1] == name and ",".join(sorted(match[2].split(","))) == wanted:
            return float(match[3])
    raise AssertionError(f"{name}{{{wanted}}} not in /metrics")


def test_request_flow_on_postgres_and_rabbitmq(stack, issuer):
    api = httpx.Client(base_url=stack, timeout=30)
    owner, operator = issuer.headers("karim"), issuer.headers("olga", roles=("operator", "approver"))
    assert api.get("/readyz").json()["checks"] == {"database": "ok", "broker": "ok"}

    registered = api.post(
        "/v1/organisations",
        headers=owner,
        json={
            "kind": "business",
            "legal_name": "Souss Data SARL",
            "national_id": "002233445566778",
            "contact_email": "it@souss-data.example",
        },
    )
    assert registered.status_code == 201, registered.text
    org = registered.json()
    refused = api.post(
        "/v1/quota-requests",
        headers=owner,
        json={
            "organisation_id": org["id"],
            "region": "rabat-1",
            "environment": "prod",
            "preset": "small",
            "justification": "launch",
        },
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == "urn:sahab:problem:organisation-not-verified"
    assert api.post(f"/v1/organisations/{org['id']}/verify", headers=operator).json()["status"] == "verified"

    created = api.post(
        "/v1/quota-requests",
        headers={**owner, "Idempotency-Key": "e2e-1"},
        json={
            "organisation_id": org["id"],
            "region": "rabat-1",
            "environment": "prod",
            "preset": "small",
            "justification": "launch",
        },
    )
    assert created.status_code == 201 and created.json()["state"] == "approved"
    request_id = created.json()["id"]

    # The worker received the task through RabbitMQ after commit and says why it waits.
    def told_why() -> dict | None:
        request = api.get(f"/v1/quota-requests/{request_id}", headers=owner).json()
        return request if (request["reason"] or "").startswith("waiting for provisioning") else None

    request = wait_until(told_why, 60, "the worker picking the task up", interval=0.5)
    assert request["state"] == "approved"
    project = api.get(f"/v1/projects/{request['project_id']}", headers=owner).json()
    assert project["last_error"].startswith("waiting for provisioning")

    big = api.post(
        "/v1/quota-requests",
        headers=owner,
        json={
            "organisation_id": org["id"],
            "region": "rabat-1",
            "environment": "big",
            "preset": "large",
            "justification": "more",
        },
    ).json()
    assert big["state"] == "submitted"
    rejected = api.post(f"/v1/quota-requests/{big['id']}/reject", headers=operator, json={"reason": "not this year"})
    assert rejected.json()["state"] == "rejected"

    # Counters from both API processes, summed; capacity from the database.
    text = ""
    for _ in range(4):  # the two uvicorn workers answer in turn
        text = api.get("/metrics").text
        assert metric(text, "sahab_request_transitions_total", to_state="submitted", organisation_kind="business") == 2
    assert metric(text, "sahab_request_transitions_total", to_state="approved", organisation_kind="business") == 1
    assert metric(text, "sahab_request_transitions_total", to_state="rejected", organisation_kind="business") == 1
    assert metric(text, "sahab_admission_decisions_total", outcome="approved_automatically") == 1
    assert metric(text, "sahab_admission_decisions_total", outcome="needs_approval") == 1
    assert metric(text, "sahab_region_granted", region="rabat-1", resource="vcpus") == 4
    assert metric(text, "sahab_region_granted", region="rabat-1", resource="ram_bytes") == 8192 * 2**20
    assert metric(text, "sahab_region_free", region="rabat-1", resource="vcpus") == 256 - 4
