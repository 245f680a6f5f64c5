"""Benchmark (not a test): metering collection time against the local OpenStack for 10, 100 and
1,000 projects, measured side by side in one run.

What is measured: real Keystone projects are created as admin (empty: no servers, so the quota
and usage calls are real API calls with real database reads, but the usage sums are over zero
resources) and registered as active Sahab projects in a temporary SQLite database; for each size
the real collection (OpenStackReader, one reused connection per region, bounded thread pool) runs
over that many projects. The demo catalogue has two regions on the same cloud; only rabat-1 holds
projects. Every project created is deleted at the end.

    eval "$(devcloud/sahab-devcloud env)"; .venv/bin/python bench/metering.py [--sizes 10,100,1000] [--workers 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import update  # noqa: E402

from controlplane.domain.resources import PRESETS, as_plain  # noqa: E402
from controlplane.domain.states import ProjectState  # noqa: E402
from controlplane.persistence.database import transaction  # noqa: E402
from controlplane.persistence.migrate import upgrade  # noqa: E402
from controlplane.persistence.models import Membership, Organisation, Project  # noqa: E402
from controlplane.runtime import build_runtime, prepare_database  # noqa: E402
from controlplane.settings import Settings  # noqa: E402


class NoQueue:
    def provision(self, request_id: str) -> None: ...
    def decommission(self, project_id: str) -> None: ...
    def preview(self, request_id: str) -> None: ...


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    import openstack

    admin = openstack.connect(cloud="sahab-devcloud", api_timeout=60)
    admin.authorize()
    tmp = Path(tempfile.mkdtemp(prefix="sahab-bench-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    runtime = build_runtime(Settings(database_url=url, data_dir=tmp, broker_url="memory://", demo_accounts=False,
                                     metering_workers=args.workers), queue=NoQueue())
    prepare_database(runtime)
    tag = uuid.uuid4().hex[:6]
    created: list[str] = []
    total = sizes[-1]
    started = time.monotonic()

    def make(i: int) -> str:
        return admin.identity.create_project(name=f"sahab-bench-{tag}-{i:04d}", domain_id="default").id

    try:
        with ThreadPoolExecutor(8) as pool:
            created.extend(pool.map(make, range(total)))
        print(f"created {total} Keystone projects in {time.monotonic() - started:.1f}s")
        now = datetime.now(timezone.utc)
        granted = as_plain(PRESETS["small"])
        with transaction(runtime.sessions) as session:
            session.add(Organisation(id="org_bench", kind="business", legal_name="Bench", national_id=tag,
                                     contact_email="b@example.org", status="verified", created_by="bench", created_at=now))
            session.flush()
            session.add(Membership(organisation_id="org_bench", subject="bench", role="admin", created_at=now))
            for i, os_id in enumerate(created):
                session.add(Project(id=f"prj_bench{i:06d}", organisation_id="org_bench", region_id="rabat-1",
                                    environment=f"b{i}", state=ProjectState.PENDING.value, granted=granted,
                                    openstack_project_id=os_id, outputs={}, created_at=now, updated_at=now))
        collector = runtime.metering
        warm = collector.collect()  # authenticates each region's connection once
        print(f"warm-up (0 projects, 2 regions' Placement + authentication): {warm.seconds:.2f}s")
        print(f"{'projects':>9} {'seconds':>8} {'ms/project':>11} {'~calls':>6} {'failed':>6}  (workers={args.workers})")
        results = []
        for size in sizes:
            with transaction(runtime.sessions) as session:
                session.execute(update(Project).values(state=ProjectState.PENDING.value))
                session.execute(update(Project).where(Project.id.in_([f"prj_bench{i:06d}" for i in range(size)]))
                                .values(state=ProjectState.ACTIVE.value))
            result = collector.collect()
            per = 1000 * result.seconds / size
            results.append((size, result.seconds, per))
            print(f"{size:>9} {result.seconds:>8.2f} {per:>11.1f} {3 * size + 1 + 2 * 3:>6} {len(result.failed):>6}", flush=True)
        if len(results) > 1:
            (s0, t0, _), (s1, t1, _) = results[0], results[-1]
            print(f"growth: x{s1 / s0:.0f} projects -> x{t1 / t0:.1f} time")
    finally:
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda pid: admin.identity.delete_project(pid), created))
        print(f"deleted {len(created)} projects in {time.monotonic() - started:.1f}s")
        runtime.engine.dispose()
        admin.close()


if __name__ == "__main__":
    main()
