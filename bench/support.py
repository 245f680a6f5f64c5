"""What bench/admission.py and bench/views.py share: a private PostgreSQL, projects loaded with SQL
(not through the API), a catalogue big enough that every small request is admitted, the test OIDC
issuer, and `sahab-server api` as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controlplane.capacity import recompute  # noqa: E402
from controlplane.domain.resources import PRESETS, as_plain  # noqa: E402
from controlplane.persistence.database import make_engine, make_session_factory, transaction  # noqa: E402
from controlplane.persistence.migrate import upgrade  # noqa: E402
from controlplane.persistence.models import RegionTotals  # noqa: E402
from controlplane.quota_requests.admission import ensure_regions  # noqa: E402
from tests.support import api_process  # noqa: E402
from tests.support.catalogues import scaled_catalogue  # noqa: E402
from tests.support.identity import TestIssuer  # noqa: E402
from tests.support.ports import free_port, wait_for_port  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402

BENCH_ORG = "org_bench"
PROJECTS_PER_ORG = 100


def big_catalogue(directory: Path) -> Path:
    """The demo catalogue with a million times its capacity: every small request fits."""
    return scaled_catalogue(directory, 1_000_000)


def fresh_database(server: PostgresServer, catalogue: Path) -> str:
    url = server.create_database()
    upgrade(url)
    from controlplane.domain.regions import load_catalogue

    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        ensure_regions(session, [r.id for r in load_catalogue(catalogue).regions])
    engine.dispose()
    return url


def load_projects(url: str, count: int, region: str = "rabat-1", *, metering: bool = False) -> float:
    """`count` active projects (each with its active request and two events) in `region`, spread
    over organisations of both kinds (100 projects each), inserted with SQL; then the region's
    running totals are set from them, and the tables analysed; with `metering`, each also has the
    last collection's quota and usage. Returns the seconds it took."""
    started = time.monotonic()
    granted = json.dumps(as_plain(PRESETS["small"]))
    orgs = -(-count // PROJECTS_PER_ORG)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO organisations (id, kind, legal_name, national_id, contact_email, status, created_by, created_at) "
            "VALUES (%s, 'business', 'Bench SARL', 'BENCH-0', 'bench@example.org', 'verified', 'bench', now())",
            (BENCH_ORG,),
        )
        if count:
            connection.execute(
                "INSERT INTO organisations (id, kind, legal_name, national_id, contact_email, status, created_by, created_at) "
                "SELECT 'org_load' || g, CASE WHEN g %% 2 = 0 THEN 'business' ELSE 'agency' END, 'Load ' || g, 'LOAD-' || g, "
                "'load' || g || '@example.org', 'verified', 'bench', now() FROM generate_series(1, %s) g",
                (orgs,),
            )
            connection.execute(
                "INSERT INTO projects (id, organisation_id, region_id, environment, state, granted, current_request_id, "
                "openstack_project_id, outputs, created_at, updated_at) "
                "SELECT 'prj_load' || g, 'org_load' || ((g - 1) / %s + 1), %s, 'env' || g, 'active', %s::json, "
                "'req_load' || g, 'os-load-' || g, '{}', now(), now() FROM generate_series(1, %s) g",
                (PROJECTS_PER_ORG, region, granted, count),
            )
            connection.execute(
                "INSERT INTO quota_requests (id, organisation_id, region_id, environment, project_id, kind, amounts, "
                "justification, state, created_by, created_at, updated_at) "
                "SELECT 'req_load' || g, 'org_load' || ((g - 1) / %s + 1), %s, 'env' || g, 'prj_load' || g, 'create', "
                "%s::json, 'loaded', 'active', 'bench', now(), now() FROM generate_series(1, %s) g",
                (PROJECTS_PER_ORG, region, granted, count),
            )
            connection.execute(
                "INSERT INTO request_events (request_id, at, actor, from_state, to_state, reason) "
                "SELECT 'req_load' || g, now(), 'bench', s.f, s.t, 'loaded' FROM generate_series(1, %s) g, "
                "(VALUES (NULL, 'submitted'), ('provisioning', 'active')) AS s(f, t)",
                (count,),
            )
            if metering:
                connection.execute(
                    "INSERT INTO project_metering (project_id, measured_at, quota, used, missing, drift, notified) "
                    'SELECT \'prj_load\' || g, now(), %s::json, \'{"vcpus": 2, "ram_mib": 2048, "volume_gib": 10}\', '
                    "false, '[]', '{}' FROM generate_series(1, %s) g",
                    (granted, count),
                )
        connection.execute("ANALYZE")
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        sums = recompute(session, region)
        session.query(RegionTotals).filter(RegionTotals.region_id == region).update(
            {"granted": sums.all_plain(), "granted_business": sums.business_plain()}
        )
    engine.dispose()
    return time.monotonic() - started


@contextmanager
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL with production durability (fsync and synchronous commit on)."""
    server = PostgresServer(durable=True).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


def bench_token(running: TestIssuer) -> str:
    """An admin of the bench organisation, valid for two hours."""
    return running.token("bench", organisations=(f"{BENCH_ORG}:admin",), exp=int(time.time()) + 7200)


@contextmanager
def sahab_api(
    url: str,
    issuer_url: str,
    catalogue: Path,
    workers: int,
    *,
    per_project: bool = False,
    broker_url: str = "memory://",
) -> Iterator[str]:
    """`sahab-server api --workers N` as a real process; yields its base URL."""
    with api_process.sahab_api(
        url,
        issuer_url,
        workers=workers,
        catalogue=catalogue,
        broker_url=broker_url,
        metrics_per_project="true" if per_project else "false",
    ) as base:
        yield base


@contextmanager
def bare_api(workers: int) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--app-dir",
            str(ROOT / "bench"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/docs", 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_http(url: str, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    port = int(url.split(":")[2].split("/")[0])
    wait_for_port(port, timeout, url, f"see {log}" if log else "")
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s" + (f"; see {log}" if log else ""))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def machine_note() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)"
