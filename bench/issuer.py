"""Benchmark (not a test): the cost of starting a device sign-in with 0 and with many pending grants,
measured side by side in one run, over real HTTP, on SQLite and on PostgreSQL.

Issue 11 item 3 found that each start scanned every pending grant. Now a start is a few lookups
by key or index, so its cost should not depend on how many grants are pending. Two issuers run side
by side, one on an empty database and one on a database holding the pending grants (loaded
with SQL, not through the API), and the starts alternate between them; the per-address and per-client limits are raised so
that the benchmark measures the start itself. The query plans of the start's lookups are printed.

    .venv/bin/python bench/issuer.py [--pending 100000] [--starts 300] [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from api.issuer import create_issuer  # noqa: E402
from api.issuer.testing import BackgroundServer  # noqa: E402
from controlplane.persistence.database import make_engine, make_session_factory  # noqa: E402
from controlplane.persistence.migrate import upgrade  # noqa: E402
from controlplane.persistence.models import IssuerDeviceGrant  # noqa: E402
from controlplane.settings import Settings  # noqa: E402

LOOKUPS = {
    "user code (unique index)": "SELECT user_code FROM issuer_device_grants WHERE user_code = 'BCDFGHJK'",
    "device code (primary key)": "SELECT * FROM issuer_device_grants WHERE device_code_hash = 'x'",
    "purge (expires_at index)": "SELECT device_code_hash FROM issuer_device_grants WHERE expires_at < '2000-01-01' "
    "ORDER BY expires_at LIMIT 100",
}


def starts(http: httpx.Client, count: int) -> list[float]:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        response = http.post("/device_authorization", data={"client_id": "sahab-cli"})
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.text
    return times


def load_pending(url: str, count: int) -> None:
    engine = make_engine(url)
    expires = datetime.now(UTC) + timedelta(minutes=10)
    with engine.begin() as connection:
        for offset in range(0, count, 10_000):
            connection.execute(
                insert(IssuerDeviceGrant),
                [
                    {
                        "device_code_hash": f"{i:064x}",
                        "user_code": f"Q{i:07d}",
                        "client_id": "sahab-cli",
                        "scope": "openid",
                        "expires_at": expires,
                        "interval": 2,
                        "status": "pending",
                    }
                    for i in range(offset, min(offset + 10_000, count))
                ],
            )
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE issuer_device_grants"))
        explain = "EXPLAIN" if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN"
        for name, query in LOOKUPS.items():
            plan = " | ".join(str(row[-1]) for row in connection.execute(text(f"{explain} {query}")))
            print(f"    plan, {name}: {plan}")
    engine.dispose()


def measure(name: str, make_url, data_dir: Path, pending: int, count: int) -> None:
    """Two issuers side by side, one on an empty database and one on a database holding `pending`
    grants; starts alternate between them so that the machine's load weighs on both alike."""
    urls = {"empty": make_url("empty"), "full": make_url("full")}
    for url in urls.values():
        upgrade(url)
    load_pending(urls["full"], pending)
    times: dict[str, list[float]] = {"empty": [], "full": []}
    with BackgroundServer() as one, BackgroundServer() as two:
        clients = {}
        for (label, url), server in zip(urls.items(), (one, two), strict=True):
            settings = Settings(
                public_url=server.url,
                database_url=url,
                data_dir=data_dir,
                broker_url="memory://",
                oidc_issuer="",
                demo_accounts=True,
                issuer_device_starts_per_address=10**9,
                issuer_device_starts_per_client=10**9,
            )
            parent = FastAPI()
            parent.mount("/issuer", create_issuer(settings, sessions=make_session_factory(make_engine(url))))
            server.start(parent)
            clients[label] = httpx.Client(base_url=settings.builtin_issuer_url, timeout=30)
        for http in clients.values():
            starts(http, 20)  # warm up
        for _ in range(count):
            for label, http in clients.items():
                times[label] += starts(http, 1)
        for http in clients.values():
            http.close()
    empty, full = times["empty"], times["full"]
    med_empty, med_full = statistics.median(empty), statistics.median(full)
    p99 = lambda xs: statistics.quantiles(xs, n=100)[98]  # noqa: E731
    print(
        f"{name}: start with ~0 pending: median {med_empty:.2f} ms, p99 {p99(empty):.2f} ms; "
        f"with {pending:,} pending: median {med_full:.2f} ms, p99 {p99(full):.2f} ms; "
        f"ratio of medians {med_full / med_empty:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--starts", type=int, default=300)
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sahab-bench-issuer-"))
    for database in args.databases.split(","):
        if database == "sqlite":
            measure("SQLite", lambda label: f"sqlite:///{tmp / label}.db", tmp, args.pending, args.starts)
        elif database == "postgres":
            from tests.support.postgres import PostgresServer

            server = PostgresServer().start()
            try:
                measure("PostgreSQL", lambda _label, pg=server: pg.create_database(), tmp, args.pending, args.starts)
            finally:
                server.stop()
        else:
            raise SystemExit(f"unknown database {database!r}: sqlite or postgres")


if __name__ == "__main__":
    main()
