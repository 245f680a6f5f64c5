"""Traces with the SDK's in-memory exporter: the API request's span, its SQL statements and the
task it publishes share one trace, and the task message carries the context to the worker."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from opentelemetry.trace import StatusCode

from api.app import create_app
from api.auth.verifier import TokenVerifier
from controlplane.observability import tracing
from controlplane.persistence.database import transaction
from controlplane.runtime import build_runtime
from controlplane.settings import Settings
from controlplane.tasks.celery_app import CeleryQueue, create_celery
from tests import factories
from tests.support.tracing import memory_exporter


def test_nothing_is_configured_without_an_endpoint(tmp_path):
    # No exporter installed by this settings object: configure() only reports what a test installed.
    assert Settings(data_dir=tmp_path).otlp_endpoint == ""


@pytest.fixture
def traced(sqlite_url, issuer, tmp_path):
    exporter = memory_exporter()
    settings = Settings(database_url=sqlite_url, data_dir=tmp_path / "data", oidc_issuer=issuer.url,
                        broker_url="memory://", demo_accounts=False)
    celery = create_celery(settings)
    runtime = build_runtime(settings, queue=CeleryQueue(celery))
    with TestClient(create_app(runtime=runtime, verifier=TokenVerifier.from_settings(settings)),
                    raise_server_exceptions=False) as client:
        exporter.clear()
        yield client, runtime, celery, exporter
    runtime.engine.dispose()


def test_request_sql_and_published_task_share_one_trace(traced, issuer):
    client, runtime, celery, exporter = traced
    with transaction(runtime.sessions) as session:
        org = factories.organisation(session, admin="hind")
    exporter.clear()
    response = client.post("/v1/quota-requests", headers=issuer.headers("hind"), json={
        "organisation_id": org.id, "region": "rabat-1", "environment": "prod", "preset": "small", "justification": "traced"})
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
