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

SECRETS = [
    "s3cr3t-pw",
    "hunter2",
    "tok-123456",
    "ZZbasicZZ",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl",
    "pp-phrase",
]


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
            log.info(
                "connecting to postgresql+psycopg://sahab:s3cr3t-pw@db:5432/sahab, Authorization: Bearer %s",
                SECRETS[4],
                extra={
                    "password": "hunter2",
                    "headers": {"X-Auth-Token": "tok-123456"},
                    "detail": "basic ZZbasicZZ",
                    "project": "p-1",
                },
            )
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
    settings = Settings(
        database_url=sqlite_url,
        data_dir=tmp_path / "data",
        oidc_issuer=issuer.url,
        broker_url="memory://",
        demo_accounts=False,
        log_format="json",
    )
    from controlplane.composition import build_api

    runtime = build_api(settings, queue=RecordingQueue())
    app = create_app(runtime=runtime, verifier=TokenVerifier.from_settings(settings))
    stream = io.StringIO()
    logs.configure("json", "INFO", stream=stream)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/regions", headers={**issuer.headers("amal"), "X-Request-ID": "abc-1"})
    runtime.engine.dispose()
    assert response.status_code == 200, response.text
    access = [json.loads(line) for line in stream.getvalue().splitlines() if '"sahab.access"' in line]
    assert response.headers["x-request-id"] == "abc-1"
    assert [(a["request_id"], a["route"], a["status"], a["method"]) for a in access] == [
        ("abc-1", "/v1/regions", 200, "GET")
    ]
    assert access[0]["duration_ms"] >= 0
    assert "Bearer" not in stream.getvalue() and "eyJ" not in stream.getvalue()


def _json_lines(text: str) -> list[dict]:
    """Every line must be one JSON object: a line in text format fails here."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.processes
def test_sahab_server_api_writes_uvicorns_lines_and_access_lines_as_json(sqlite_url, issuer, tmp_path):
    """The real `sahab-server api` (uvicorn, two worker processes) with SAHAB_LOG_FORMAT=json and traces on."""
    import os
    import subprocess
    import sys

    import httpx

    from tests.support.otlp import OtlpReceiver
    from tests.support.ports import free_port, wait_for_port
    from tests.support.processes import stop

    port = free_port()
    log = tmp_path / "api.log"
    (tmp_path / "mp").mkdir()
    with OtlpReceiver() as receiver:
        env = dict(
            os.environ,
            SAHAB_DATABASE_URL=sqlite_url,
            SAHAB_OIDC_ISSUER=issuer.url,
            SAHAB_BROKER_URL="memory://",
            SAHAB_PUBLIC_URL=f"http://127.0.0.1:{port}",
            SAHAB_DATA_DIR=str(tmp_path / "data"),
            SAHAB_DEMO_ACCOUNTS="false",
            SAHAB_LOG_FORMAT="json",
            SAHAB_OTLP_ENDPOINT=receiver.endpoint,
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "mp"),
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "api.server", "api", "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(log, "wb"),
            start_new_session=True,
        )
        try:
            wait_for_port(port, 90, "sahab-server api", log.read_text(errors="replace")[-2000:])
            token = issuer.token("amal")
            response = httpx.get(
                f"http://127.0.0.1:{port}/v1/regions?access_token=tok-123456",
                timeout=30,
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-uvicorn-1"},
            )
            assert response.status_code == 200, response.text
        finally:
            stop([process])
    text = log.read_text(errors="replace")
    lines = _json_lines(text)
    uvicorn = [line for line in lines if line["logger"].startswith("uvicorn")]
    messages = " | ".join(line["message"] for line in uvicorn)
    assert "Started parent process" in messages and "Uvicorn running on" in messages, messages
    assert "Application startup complete" in messages and "Shutting down" in messages, messages
    (access,) = [line for line in lines if line["logger"] == "sahab.access"]
    assert access["request_id"] == "req-uvicorn-1" and access["route"] == "/v1/regions" and access["status"] == 200
    assert len(access["trace_id"]) == 32 and access["trace_id"] != "0" * 32
    assert token not in text and "tok-123456" not in text


@pytest.mark.processes
def test_uvicorns_exception_line_carries_the_request_and_trace_ids_and_no_secret(sqlite_url, issuer, tmp_path):
    """A handler that raises behind real uvicorn with Sahab's uvicorn logging configuration: uvicorn's
    "Exception in ASGI application" line is JSON, names the failed request and its trace, and the
    traceback's secrets are masked."""
    import os
    import subprocess
    import sys

    import httpx

    from tests.support.ports import free_port, wait_for_port
    from tests.support.processes import stop

    port = free_port()
    program = f"""
import uvicorn
from api.app import create_app
from api.server import uvicorn_log_options
from controlplane.observability import tracing
from controlplane.composition import build_api
from controlplane.settings import Settings
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.support.fakes import RecordingQueue

tracing.install_provider("sahab-api", SimpleSpanProcessor(InMemorySpanExporter()))
settings = Settings(database_url={sqlite_url!r}, data_dir={str(tmp_path / "data")!r}, oidc_issuer={issuer.url!r},
                    broker_url="memory://", demo_accounts=False, log_format="json")
app = create_app(settings, runtime=build_api(settings, queue=RecordingQueue()))

@app.get("/test-only/boom")
def boom():
    raise RuntimeError("cannot reach postgresql+psycopg://sahab:s3cr3t-pw@db:5432/sahab")

options = uvicorn_log_options("json", "INFO")
uvicorn.run(app, host="127.0.0.1", port={port}, access_log=False, log_config=options[1], log_level=options[3])
"""
    log = tmp_path / "api.log"
    (tmp_path / "mp").mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", program],
        env=dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "mp")),
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),
        start_new_session=True,
    )
    try:
        wait_for_port(port, 90, "uvicorn", str(log))
        failed = httpx.get(
            f"http://127.0.0.1:{port}/test-only/boom", headers={"X-Request-ID": "req-boom-1"}, timeout=30
        )
        assert failed.status_code == 500
    finally:
        stop([process])
    text = log.read_text(errors="replace")
    lines = _json_lines(text)
    (error,) = [line for line in lines if line["logger"] == "uvicorn.error" and line["level"] == "error"]
    assert "Exception in ASGI application" in error["message"] and "RuntimeError" in error["exception"]
    assert error["request_id"] == "req-boom-1" and len(error["trace_id"]) == 32
    (access,) = [line for line in lines if line["logger"] == "sahab.access"]
    assert access["trace_id"] == error["trace_id"] and access["status"] == 500
    assert "sahab:***@db:5432" in error["exception"] and "s3cr3t-pw" not in text
