"""HTTP metrics per route template and status class, request ids, and the queue on /metrics."""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from api.observability import HTTP_BUCKETS
from tests.support.metrics import samples, value


def test_requests_are_counted_by_route_template_and_status_class_never_by_raw_path(client, issuer):
    headers = issuer.headers("amal")
    missing = str(uuid.uuid4())
    template = "/v1/quota-requests/{request_id}"
    before = client.get("/metrics").text
    for _ in range(2):
        assert client.get(f"/v1/quota-requests/{missing}", headers=headers).status_code == 404
    assert client.get("/v1/regions", headers=headers).status_code == 200
    assert client.get(f"/no/such/{missing}").status_code == 404
    after = client.get("/metrics").text

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("sahab_http_requests_total", handler=template, method="GET", status="4xx") == 2
    assert delta("sahab_http_requests_total", handler="/v1/regions", method="GET", status="2xx") == 1
    assert delta("sahab_http_requests_total", handler="none", status="4xx") == 1  # untemplated: grouped
    assert delta("sahab_http_request_duration_seconds_count", handler=template, status="4xx") == 2
    assert missing not in after
    assert not [labels for labels, _ in samples(after, "sahab_http_requests_total") if labels["handler"] == "/metrics"]
    buckets = {float(labels["le"]) for labels, _ in samples(after, "sahab_http_request_duration_seconds_bucket")}
    assert set(HTTP_BUCKETS) <= buckets and 0.1 in buckets  # the p99 target is a bucket boundary


def test_a_failing_handler_counts_as_5xx(client):
    app: FastAPI = client.app  # type: ignore[assignment]

    @app.get("/test-only/boom/{item}")
    def boom(item: str) -> None:
        raise RuntimeError("boom")

    before = value(
        client.get("/metrics").text, "sahab_http_requests_total", handler="/test-only/boom/{item}", status="5xx"
    )
    assert client.get("/test-only/boom/1").status_code == 500
    after = value(
        client.get("/metrics").text, "sahab_http_requests_total", handler="/test-only/boom/{item}", status="5xx"
    )
    assert after - before == 1


def test_request_id_is_echoed_or_made(client):
    given = client.get("/healthz", headers={"X-Request-ID": "req-42.a_b"})
    assert given.headers["x-request-id"] == "req-42.a_b"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id; with spaces" + "x" * 80})
    assert len(made.headers["x-request-id"]) == 32 and made.headers["x-request-id"].isalnum()
    assert client.get("/healthz").headers["x-request-id"] != made.headers["x-request-id"]


def test_process_metrics_of_this_process_are_exported(client):
    import os

    text = client.get("/metrics").text
    mine = [
        labels
        for labels, v in samples(text, "sahab_process_resident_memory_bytes")
        if labels.get("pid") == str(os.getpid())
    ]
    assert mine and mine[0]["role"] == "api"
    assert value(text, "sahab_process_open_fds", pid=str(os.getpid())) > 0
