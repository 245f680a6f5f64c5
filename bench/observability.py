"""Benchmark (not a test): the added cost of Sahab's HTTP instrumentation (issue 18) on admission.

Two API instances built side by side in one process, identical but for SAHAB_HTTP_METRICS
(route-level counter and histogram through prometheus-fastapi-instrumentator, X-Request-ID), each on
its own SQLite database, in prometheus-client's multiprocess mode as `sahab-server api` runs. Each
round sends the same admission load to both, in alternating order: POST /v1/quota-requests for a
small preset (admitted automatically: admission, grant, events, queued task) for fresh organisations,
plus GET /v1/regions. The figure is the median over rounds of the per-request time, on / off.
Traces are off (the default: no OTLP endpoint). Requests go through Starlette's in-process client.

    .venv/bin/python bench/observability.py [--rounds 12] [--requests 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="sahab-bench-metrics-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402
from api.auth.verifier import TokenVerifier  # noqa: E402
from controlplane.persistence.database import transaction  # noqa: E402
from controlplane.persistence.migrate import upgrade  # noqa: E402
from controlplane.runtime import build_runtime  # noqa: E402
from controlplane.settings import Settings  # noqa: E402
from tests import factories  # noqa: E402
from tests.support.fakes import RecordingQueue  # noqa: E402
from tests.support.identity import TestIssuer  # noqa: E402


class Variant:
    def __init__(self, name: str, http_metrics: bool, issuer: TestIssuer, orgs: int) -> None:
        tmp = Path(tempfile.mkdtemp(prefix=f"sahab-bench-{name}-"))
        url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        settings = Settings(database_url=url, data_dir=tmp, oidc_issuer=issuer.url, broker_url="memory://",
                            demo_accounts=False, http_metrics=http_metrics)
        self.name = name
        self.runtime = build_runtime(settings, queue=RecordingQueue())
        self.client = TestClient(create_app(runtime=self.runtime, verifier=TokenVerifier.from_settings(settings)))
        with transaction(self.runtime.sessions) as session:
            self.orgs = [factories.organisation(session, admin="bench").id for _ in range(orgs)]
        self.next = 0
        self.headers = issuer.headers("bench")
        self.times: list[float] = []

    def round(self, requests: int) -> None:
        started = time.perf_counter()
        for _ in range(requests):
            org = self.orgs[self.next]
            self.next += 1
            response = self.client.post("/v1/quota-requests", headers=self.headers, json={
                "organisation_id": org, "region": "rabat-1" if self.next % 2 else "casablanca-1", "environment": "prod",
                "preset": "small", "justification": "bench"})
            assert response.status_code == 201, response.text
            assert self.client.get("/v1/regions", headers=self.headers).status_code == 200
        self.times.append((time.perf_counter() - started) / (2 * requests))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    with TestIssuer() as issuer:
        total = (args.rounds + 1) * args.requests
        off, on = Variant("off", False, issuer, total), Variant("on", True, issuer, total)
        off.round(args.requests), on.round(args.requests)  # warm-up, not counted
        off.times.clear(), on.times.clear()
        for i in range(args.rounds):
            for variant in ((off, on) if i % 2 == 0 else (on, off)):
                variant.round(args.requests)
    median_off, median_on = statistics.median(off.times), statistics.median(on.times)
    print(f"{args.rounds} rounds x {args.requests} admissions + {args.requests} region reads, per request:")
    print(f"  instrumentation off: {median_off * 1000:.2f} ms   on: {median_on * 1000:.2f} ms")
    print(f"  added cost: {(median_on / median_off - 1) * 100:+.1f} %  (on/off = {median_on / median_off:.3f}; target < 5 %)")


if __name__ == "__main__":
    main()
