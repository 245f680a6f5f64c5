"""Benchmark (not a test): the added cost of Sahab's HTTP instrumentation (issue 18) on admission.

Two API instances built side by side in one process, identical but for SAHAB_HTTP_METRICS
(route-level counter and histogram through prometheus-fastapi-instrumentator, X-Request-ID), each on
its own SQLite database, in prometheus-client's multiprocess mode as `sahab-server api` runs. Each
round sends the same admission load to both, in alternating order: POST /v1/quota-requests for a
small preset (admitted automatically: admission, grant, events, queued task) for fresh organisations,
plus GET /v1/regions. Rounds of the two variants run back to back, so each pair sees the same machine
load; the figure is the median over pairs of on / off, and the fixed cost per request is measured the
same way on GET /healthz. Traces are off (the default: no OTLP endpoint). Requests are ASGI calls
through httpx's ASGI transport in one event loop (no sockets, no thread hop: the instrumentation's share
is larger than behind uvicorn, not smaller).

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

import asyncio  # noqa: E402

import httpx  # noqa: E402

from api.app import create_app  # noqa: E402
from api.auth.verifier import TokenVerifier  # noqa: E402
from controlplane.composition import build_api  # noqa: E402
from controlplane.persistence.database import transaction  # noqa: E402
from controlplane.persistence.migrate import upgrade  # noqa: E402
from controlplane.settings import Settings  # noqa: E402
from tests import factories  # noqa: E402
from tests.support.fakes import RecordingQueue  # noqa: E402
from tests.support.identity import TestIssuer  # noqa: E402


class Variant:
    def __init__(self, name: str, http_metrics: bool, issuer: TestIssuer, orgs: int) -> None:
        tmp = Path(tempfile.mkdtemp(prefix=f"sahab-bench-{name}-"))
        url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        settings = Settings(
            database_url=url,
            data_dir=tmp,
            oidc_issuer=issuer.url,
            broker_url="memory://",
            demo_accounts=False,
            http_metrics=http_metrics,
        )
        self.name = name
        self.runtime = build_api(settings, queue=RecordingQueue())
        self.app = create_app(runtime=self.runtime, verifier=TokenVerifier.from_settings(settings))
        with transaction(self.runtime.sessions) as session:
            self.orgs = [factories.organisation(session, admin="bench").id for _ in range(orgs)]
        self.next = 0
        self.headers = issuer.headers("bench")

    async def admissions(self, requests: int) -> float:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://bench") as client:
            started = time.perf_counter()
            for _ in range(requests):
                org = self.orgs[self.next]
                self.next += 1
                response = await client.post(
                    "/v1/quota-requests",
                    headers=self.headers,
                    json={
                        "organisation_id": org,
                        "region": "rabat-1" if self.next % 2 else "casablanca-1",
                        "environment": "prod",
                        "preset": "small",
                        "justification": "bench",
                    },
                )
                assert response.status_code == 201, response.text
                assert (await client.get("/v1/regions", headers=self.headers)).status_code == 200
            return (time.perf_counter() - started) / (2 * requests)

    async def health(self, requests: int) -> float:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://bench") as client:
            started = time.perf_counter()
            for _ in range(requests):
                assert (await client.get("/healthz")).status_code == 200
            return (time.perf_counter() - started) / requests


async def pairs(off: Variant, on: Variant, rounds: int, measure: str, requests: int) -> list[tuple[float, float]]:
    """(off, on) per-request times, each pair measured back to back, the order alternating."""
    results = []
    for i in range(rounds):
        first, second = (off, on) if i % 2 == 0 else (on, off)
        a = await getattr(first, measure)(requests)
        b = await getattr(second, measure)(requests)
        results.append((a, b) if first is off else (b, a))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    with TestIssuer() as issuer:
        total = (args.rounds + 1) * args.requests
        off, on = Variant("off", False, issuer, total), Variant("on", True, issuer, total)
        asyncio.run(pairs(off, on, 1, "admissions", args.requests))  # warm-up, not counted
        admission = asyncio.run(pairs(off, on, args.rounds, "admissions", args.requests))
        health = asyncio.run(pairs(off, on, args.rounds, "health", 10 * args.requests))
    fixed = statistics.median(b - a for a, b in health)
    admission_ms = statistics.median(a for a, _ in admission) * 1000
    for title, results in (
        (f"admission ({args.requests} POST /v1/quota-requests + {args.requests} GET /v1/regions a round)", admission),
        (f"GET /healthz ({10 * args.requests} a round)", health),
    ):
        ratio = statistics.median(b / a for a, b in results)
        a_ms = statistics.median(a for a, _ in results) * 1000
        b_ms = statistics.median(b for _, b in results) * 1000
        print(f"{title}, {args.rounds} pairs of rounds, per request:")
        print(
            f"  instrumentation off {a_ms:.3f} ms, on {b_ms:.3f} ms; added: {(ratio - 1) * 100:+.1f} % "
            f"(median of per-pair on/off ratios; target < 5 % on admission)"
        )
    print(
        f"fixed cost per request (median per-pair difference on /healthz): {fixed * 1000:.3f} ms = "
        f"{fixed * 1000 / admission_ms * 100:.1f} % of an admission request ({admission_ms:.2f} ms without instrumentation)"
    )


if __name__ == "__main__":
    main()
