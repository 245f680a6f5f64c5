"""Traces with the SDK's in-memory exporter: the API request's span, its SQL statements and the
task it publishes share one trace, and the task message carries the context to the worker."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from opentelemetry.trace import StatusCode

from api.app import create_app
from api.auth.verifier import TokenVerifier
from controlplane.composition import build_api
from controlplane.observability import tracing
from controlplane.persistence.database import transaction
from controlplane.settings import Settings
from controlplane.tasks.celery_app import CeleryQueue, create_celery
from tests import factories
from tests.support.tracing import memory_exporter


@pytest.mark.processes
def test_nothing_is_traced_or_sent_without_an_endpoint(sqlite_url, issuer, tmp_path):
    """In a fresh process (the provider is process-wide): the API built with default settings
    installs no provider, loads no exporter and instruments nothing; an endpoint turns it all on."""
    import os
    import subprocess
    import sys

    program = f"""
import os, sys
from opentelemetry import trace
from api.app import create_app
from controlplane.observability import tracing
from controlplane.settings import Settings
from tests.support.fakes import RecordingQueue
from controlplane.composition import build_api
settings = Settings(database_url={sqlite_url!r}, data_dir={str(tmp_path)!r}, oidc_issuer={issuer.url!r},
                    broker_url="memory://", demo_accounts=False, otlp_endpoint=os.environ.get("ENDPOINT", ""))
create_app(runtime=build_api(settings, queue=RecordingQueue()), verifier=object())
print(tracing.enabled(), type(trace.get_tracer_provider()).__name__,
      "opentelemetry.exporter.otlp.proto.http.trace_exporter" in sys.modules,
      "opentelemetry.instrumentation.fastapi" in sys.modules)
"""

    def run(**env: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, env={**os.environ, **env}
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.split("\n")[-2]

    assert run() == "False ProxyTracerProvider False False"
    assert run(ENDPOINT="http://127.0.0.1:9") == "True TracerProvider True True"


@pytest.fixture
def traced(sqlite_url, issuer, tmp_path):
    exporter = memory_exporter()
    settings = Settings(
        database_url=sqlite_url,
        data_dir=tmp_path / "data",
        oidc_issuer=issuer.url,
        broker_url="memory://",
        demo_accounts=False,
    )
    celery = create_celery(settings)
    runtime = build_api(settings, queue=CeleryQueue(celery))
    with TestClient(
        create_app(runtime=runtime, verifier=TokenVerifier.from_settings(settings)), raise_server_exceptions=False
    ) as client:
        exporter.clear()
        yield client, runtime, celery, exporter
    runtime.engine.dispose()


def test_request_sql_and_published_task_share_one_trace(traced, issuer):
    client, runtime, celery, exporter = traced
    with transaction(runtime.sessions) as session:
        org = factories.organisation(session, admin="hind")
    exporter.clear()
    response = client.post(
        "/v1/quota-requests",
        headers=issuer.headers("hind"),
        json={
            "organisation_id": org.id,
            "region": "rabat-1",
            "environment": "prod",
            "preset": "small",
            "justification": "traced",
        },
    )
    assert response.status_code == 201, response.text

    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.name == "POST /v1/quota-requests" and s.parent is None]
    assert len(server) == 1, [s.name for s in spans]
    trace_id = server[0].context.trace_id
    sql = [s for s in spans if s.attributes.get("db.system") or s.attributes.get("db.system.name")]
    assert sql and {s.context.trace_id for s in sql} == {trace_id}
    publish = [s for s in spans if s.name == "apply_async/sahab.provision"]
    assert len(publish) == 1 and publish[0].context.trace_id == trace_id

    # The message the worker will receive carries the same trace in its headers.
    with celery.connection_for_read() as connection:
        message = connection.SimpleQueue("sahab").get(timeout=2)
        traceparent = message.headers["traceparent"]
        message.ack()
    assert traceparent.split("-")[1] == format(trace_id, "032x")


def test_span_records_an_operation_and_its_failure():
    exporter = memory_exporter()
    exporter.clear()
    with pytest.raises(RuntimeError):
        with tracing.span("pulumi.up", stack="org-prod"):
            assert len(tracing.current_trace_id()) == 32
            raise RuntimeError("engine exited 255")
    (span,) = exporter.get_finished_spans()
    assert span.name == "pulumi.up" and span.attributes["stack"] == "org-prod"
    assert span.status.status_code is StatusCode.ERROR and span.events[0].name == "exception"
    assert tracing.current_trace_id() == ""


def test_outgoing_httpx_calls_are_client_spans_of_the_current_trace(issuer):
    import httpx

    exporter = memory_exporter()
    exporter.clear()
    with tracing.span("verify token"):
        trace_id = tracing.current_trace_id()
        assert httpx.get(f"{issuer.url}/.well-known/openid-configuration", timeout=10).status_code == 200
    client = [s for s in exporter.get_finished_spans() if s.name == "GET"]
    assert len(client) == 1 and format(client[0].context.trace_id, "032x") == trace_id
    assert client[0].attributes.get("http.response.status_code", client[0].attributes.get("http.status_code")) == 200
