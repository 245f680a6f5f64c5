"""One trace crosses processes: the API (uvicorn) and a Celery worker export their spans over
OTLP/HTTP to a real receiver, the OpenTelemetry Collector built from Go modules (tests/support/otelcol.py)
and a small receiver decoding the OTLP protobuf itself (tests/support/otlp.py), and the worker's task span
carries the trace id of the API request that sent it, through the message headers of the filesystem broker.

The worker runs the `unavailable` provisioner, so the task's span holds its SQL statements but no
Pulumi span (the Pulumi span is unit-tested in tests/controlplane/observability/test_tracing.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.otelcol import Collector
from tests.support.otlp import OtlpReceiver
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import stop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["otel-collector", "otlp-receiver"])
def receiver(request, tmp_path):  # type: ignore[no-untyped-def]
    with (Collector(tmp_path) if request.param == "otel-collector" else OtlpReceiver()) as running:
        yield running


def test_api_request_and_worker_task_share_one_trace_over_otlp(receiver, sqlite_url, issuer, tmp_path):
    port = free_port()
    env = dict(os.environ, SAHAB_DATABASE_URL=sqlite_url, SAHAB_OIDC_ISSUER=issuer.url, SAHAB_BROKER_URL="filesystem://",
               SAHAB_PUBLIC_URL=f"http://127.0.0.1:{port}", SAHAB_DATA_DIR=str(tmp_path / "data"),
               SAHAB_DEMO_ACCOUNTS="false", SAHAB_PROVISIONER="unavailable", SAHAB_OTLP_ENDPOINT=receiver.endpoint,
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "mp"), OTEL_BSP_SCHEDULE_DELAY="200")
    (tmp_path / "mp").mkdir()
    logs = {name: tmp_path / f"{name}.log" for name in ("api", "worker")}
    processes = [
        subprocess.Popen([sys.executable, "-m", "api.server", "api"], env=env, cwd=ROOT,
                         stdout=open(logs["api"], "wb"), stderr=subprocess.STDOUT, start_new_session=True),
        subprocess.Popen([sys.executable, "-m", "api.server", "worker", "--concurrency", "1", "--name", "traced@test"],
                         env=env, cwd=ROOT, stdout=open(logs["worker"], "wb"), stderr=subprocess.STDOUT, start_new_session=True),
    ]
    try:
        wait_for_port(port, 60, "Sahab API", logs["api"].read_text(errors="replace")[-2000:])
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        owner, operator = issuer.headers("salma"), issuer.headers("yassine", roles=("operator", "approver"))
        org = api.post("/v1/organisations", headers=owner, json={
            "kind": "business", "legal_name": "Traced SARL", "national_id": "001122334455667",
            "contact_email": "ops@traced.example"}).json()
        api.post(f"/v1/organisations/{org['id']}/verify", headers=operator).raise_for_status()
        created = api.post("/v1/quota-requests", headers=owner, json={
            "organisation_id": org["id"], "region": "rabat-1", "environment": "prod", "preset": "small",
            "justification": "traced"})
        assert created.status_code == 201, created.text

        def complete(spans) -> bool:  # type: ignore[no-untyped-def]
            return any(s.name == "run/sahab.provision" for s in spans) and any(s.name == "POST /v1/quota-requests" for s in spans)

        try:
            spans = receiver.wait_for(complete, timeout=90)
        except AssertionError as error:
            raise AssertionError(f"{error}\nworker: {logs['worker'].read_text(errors='replace')[-3000:]}") from None
    finally:
        stop(processes)

    # (Its parent may be the test's own httpx span, when another test instrumented httpx in this process.)
    post = next(s for s in spans if s.name == "POST /v1/quota-requests" and s.service == "sahab-api")
    task = next(s for s in spans if s.name == "run/sahab.provision")
    publish = next(s for s in spans if s.name == "apply_async/sahab.provision")
    assert (post.service, publish.service, task.service) == ("sahab-api", "sahab-api", "sahab-worker")
    assert task.trace_id == post.trace_id == publish.trace_id
    assert task.parent_span_id == publish.span_id
    in_trace = [s for s in spans if s.trace_id == post.trace_id]
    # The worker's SQL statements (the workflow reloading the request) are in the same trace.
    assert any(s.service == "sahab-worker" and s.name != "run/sahab.provision" for s in in_trace), in_trace
