"""JSON log lines carry the trace id and the request id, and never a secret."""

from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth.verifier import TokenVerifier
from controlplane.observability import logs, tracing
from controlplane.settings import Settings
from tests.support.fakes import RecordingQueue
from tests.support.tracing import memory_exporter

SECRETS = ["s3cr3t-pw", "hunter2", "tok-123456", "ZZbasicZZ", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl", "pp-phrase"]


@pytest.fixture
def json_lines():
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.configure("json", "INFO", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.handlers[:] = saved
    root.setLevel(level)


def test_every_line_has_trace_and_request_ids_and_no_secrets(json_lines):
    memory_exporter()
    log = logging.getLogger("sahab.test")
    token = logs.REQUEST_ID.set("req-7")
    try:
        with tracing.span("work"):
            trace_id = tracing.current_trace_id()
            log.info("connecting to postgresql+psycopg://sahab:s3cr3t-pw@db:5432/sahab, Authorization: Bearer %s",
                     SECRETS[4], extra={"password": "hunter2", "headers": {"X-Auth-Token": "tok-123456"},
                                        "detail": "basic ZZbasicZZ", "project": "p-1"})
            log.warning("pulumi config passphrase=pp-phrase api_key: tok-123456")
    finally:
        logs.REQUEST_ID.reset(token)
    lines = [line for line in json_lines() if line["logger"] == "sahab.test"]
    assert len(lines) == 2
    for line in lines:
        assert line["trace_id"] == trace_id and len(line["span_id"]) == 16 and line["request_id"] == "req-7"
        assert line["logger"] == "sahab.test" and line["level"] in {"info", "warning"}
        for secret in SECRETS:
            assert secret not in json.dumps(line), (secret, line)
    assert lines[0]["project"] == "p-1" and "postgresql+psycopg://sahab:***@db:5432/sahab" in lines[0]["message"]


def test_api_access_lines_carry_the_request_id_it_answered_with(json_lines, sqlite_url, issuer, tmp_path):
    settings = Settings(database_url=sqlite_url, data_dir=tmp_path / "data", oidc_issuer=issuer.url,
                        broker_url="memory://", demo_accounts=False, log_format="json")
    from controlplane.runtime import build_runtime

    runtime = build_runtime(settings, queue=RecordingQueue())
    app = create_app(runtime=runtime, verifier=TokenVerifier.from_settings(settings))
    stream = io.StringIO()
    logs.configure("json", "INFO", stream=stream)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/regions", headers={**issuer.headers("amal"), "X-Request-ID": "abc-1"})
    runtime.engine.dispose()
    assert response.status_code == 200, response.text
    access = [json.loads(line) for line in stream.getvalue().splitlines() if '"sahab.access"' in line]
    assert response.headers["x-request-id"] == "abc-1"
    assert [(a["request_id"], a["route"], a["status"], a["method"]) for a in access] == [("abc-1", "/v1/regions", 200, "GET")]
    assert access[0]["duration_ms"] >= 0
    assert "Bearer" not in stream.getvalue() and "eyJ" not in stream.getvalue()
