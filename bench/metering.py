"""Benchmark (not a test): metering collection time against the local OpenStack for 10, 100 and
1,000 projects, and beside it, for the same projects in the same run, the per-project quota-detail
reads the collection used to make (three calls per project, each making a service count usage).

What is measured: real Keystone projects (named <prefix>-00000, ...; created once with quotas set as
Sahab sets them, and reused by later runs: `--cleanup` deletes them) are registered as active Sahab
projects in a temporary SQLite database. For each size the real collection (OpenStackReader, one
reused connection per region, bounded thread pool) runs twice:
* first: every project's Nova and Cinder quotas are read (as for projects Sahab has just provisioned);
* steady: the quota checks are spread as after an hour of collections (each project checked within
  the hour), so this collection reads 1/12 of them with the default 5-minute interval.
The projects are empty, but the listings hold whatever else the shared devcloud holds (printed).
The demo catalogue has two regions; only rabat-1 holds projects.

    eval "$(devcloud/sahab-devcloud env)"
    .venv/bin/python bench/metering.py [--sizes 10,100,1000] [--workers 8] [--detail-max 100]
    .venv/bin/python bench/metering.py --cleanup
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select, update  # noqa: E402

from controlplane.composition import build_worker  # noqa: E402
from controlplane.contract import quota_fields  # noqa: E402
from controlplane.domain.resources import PRESETS, as_plain  # noqa: E402
from controlplane.domain.states import ProjectState  # noqa: E402
from controlplane.metering.reader import LISTINGS, OpenStackReader  # noqa: E402
from controlplane.persistence.database import transaction  # noqa: E402
from controlplane.persistence.migrate import upgrade  # noqa: E402
from controlplane.persistence.models import Membership, Organisation, Project, ProjectMetering  # noqa: E402
from controlplane.settings import Settings  # noqa: E402

CLOUD = "sahab-devcloud"
SDK_NETWORK = {
    "network": "networks",
    "subnet": "subnets",
    "port": "ports",
    "router": "routers",
    "floatingip": "floating_ips",
    "security_group": "security_groups",
    "security_group_rule": "security_group_rules",
}


class NoQueue:
    def provision(self, request_id: str) -> None: ...
    def decommission(self, project_id: str) -> None: ...
    def preview(self, request_id: str) -> None: ...
    def repair(self, project_id: str) -> None: ...


def existing(admin: Any, prefix: str) -> dict[str, str]:
    """name -> id of the benchmark's projects already in Keystone."""
    return {p.name: p.id for p in admin.identity.projects(domain_id="default") if p.name.startswith(prefix + "-")}


def ensure_projects(admin: Any, prefix: str, count: int, quota: dict[str, int]) -> list[str]:
    found = existing(admin, prefix)
    names = [f"{prefix}-{i:05d}" for i in range(count)]
    missing = [name for name in names if name not in found]

    def make(name: str) -> tuple[str, str]:
        project = admin.identity.create_project(name=name, domain_id="default", description="sahab metering bench")
        admin.compute.update_quota_set(project.id, **quota_fields(quota, "compute"))
        admin.block_storage.update_quota_set(project.id, **quota_fields(quota, "block-storage"))
        admin.network.update_quota(project.id, **{SDK_NETWORK[k]: v for k, v in quota_fields(quota, "network").items()})
        return name, project.id

    if missing:
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            found.update(pool.map(make, missing))
        print(
            f"created {len(missing)} Keystone projects (with quotas) in {time.monotonic() - started:.1f}s; "
            f"{count - len(missing)} reused"
        )
    else:
        print(f"reusing {count} Keystone projects named {prefix}-*")
    return [found[name] for name in names]


def cleanup(admin: Any, prefix: str) -> None:
    found = existing(admin, prefix)
    started = time.monotonic()

    def remove(project_id: str) -> None:
        admin.compute.revert_quota_set(project_id)
        admin.block_storage.revert_quota_set(project_id)
        admin.network.delete_quota(project_id)
        admin.identity.delete_project(project_id)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(remove, found.values()))
    print(f"deleted {len(found)} projects named {prefix}-* in {time.monotonic() - started:.1f}s")


def spread_checks(runtime: Any, ids: list[str], now: datetime) -> None:
    """Quota checks as after an hour of 5-minute collections: ages spread evenly over the hour."""
    with transaction(runtime.sessions) as session:
        session.execute(
            update(ProjectMetering),
            [
                {"project_id": pid, "quota_checked_at": now - timedelta(seconds=300 * (i % 12) + 1)}
                for i, pid in enumerate(ids)
            ],
        )


def detail_reads(reader: OpenStackReader, openstack_ids: list[str], workers: int) -> tuple[float, int]:
    """Seconds for the old per-project reads, and how many failed (a shared cloud has bad moments)."""

    def read(openstack_id: str) -> bool:
        try:
            reader.read_project_detail(openstack_id)
            return True
        except Exception:  # counted and printed: the timing is what is measured
            return False

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        failed = sum(not ok for ok in pool.map(read, openstack_ids))
    return time.monotonic() - started, failed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--prefix", default="sahab-bench-meter")
    parser.add_argument(
        "--detail-max",
        type=int,
        default=100,
        help="run the old per-project detail reads for sizes up to this (1,000 of them take minutes)",
    )
    parser.add_argument("--cleanup", action="store_true", help="delete the benchmark's Keystone projects and exit")
    args = parser.parse_args()
    import openstack

    admin = openstack.connect(cloud=CLOUD, api_timeout=60)
    admin.authorize()
    if args.cleanup:
        cleanup(admin, args.prefix)
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    granted = as_plain(PRESETS["small"])
    openstack_ids = ensure_projects(admin, args.prefix, sizes[-1], granted)

    tmp = Path(tempfile.mkdtemp(prefix="sahab-bench-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    runtime = build_worker(
        Settings(
            database_url=url, data_dir=tmp, broker_url="memory://", demo_accounts=False, metering_workers=args.workers
        ),
        queue=NoQueue(),
    )
    runtime.prepare_database()
    long_ago = datetime.now(UTC) - timedelta(days=1)
    ids = [f"prj_bench{i:06d}" for i in range(len(openstack_ids))]
    with transaction(runtime.sessions) as session:
        session.add(
            Organisation(
                id="org_bench",
                kind="business",
                legal_name="Bench",
                national_id="bench",
                contact_email="b@example.org",
                status="verified",
                created_by="bench",
                created_at=long_ago,
            )
        )
        session.flush()
        session.add(Membership(organisation_id="org_bench", subject="bench", role="admin", created_at=long_ago))
        session.add_all(
            Project(
                id=pid,
                organisation_id="org_bench",
                region_id="rabat-1",
                environment=f"b{i}",
                state=ProjectState.PENDING.value,
                granted=granted,
                openstack_project_id=os_id,
                outputs={},
                created_at=long_ago,
                updated_at=long_ago,
            )
            for i, (pid, os_id) in enumerate(zip(ids, openstack_ids, strict=True))
        )
    collector = runtime.metering
    region = runtime.catalogue.get("rabat-1")
    reference = OpenStackReader(region, timeout=60)
    listed = {listing.name: sum(sum(1 for _ in page) for page in reference._pages(listing)) for listing in LISTINGS}
    print(
        "objects in the region's listings (the whole shared devcloud): "
        + ", ".join(f"{name} {count}" for name, count in listed.items())
    )
    warm = collector.collect()  # authenticates each region's connection once
    print(f"warm-up (0 projects; authentication, listings, Placement for 2 regions): {warm.seconds:.2f}s")
    print(
        f"\n{'projects':>8} | {'steady s':>8} {'ms/proj':>7} {'checks':>6} | {'first s':>7} {'checks':>6} | "
        f"{'detail s':>8} {'ms/proj':>7} | {'detail/steady':>13}   (workers={args.workers})"
    )
    steady_results = []
    for size in sizes:
        with transaction(runtime.sessions) as session:
            session.execute(update(Project).values(state=ProjectState.PENDING.value))
            session.execute(update(Project).where(Project.id.in_(ids[:size])).values(state=ProjectState.ACTIVE.value))
            session.execute(update(ProjectMetering).values(quota_checked_at=None))
        first = collector.collect()
        with transaction(runtime.sessions) as session:
            measured = list(
                session.scalars(select(ProjectMetering.project_id).where(ProjectMetering.project_id.in_(ids[:size])))
            )
        spread_checks(runtime, measured, datetime.now(UTC))
        steady = collector.collect()
        failed = len(first.failed) + len(steady.failed)
        detail, detail_failed = (
            detail_reads(reference, openstack_ids[:size], args.workers) if size <= args.detail_max else (None, 0)
        )
        failed += detail_failed
        steady_results.append((size, steady.seconds))
        detail_text = (
            f"{detail:>8.2f} {1000 * detail / size:>7.1f} | {detail / steady.seconds:>12.1f}x"
            if detail
            else f"{'-':>8} {'-':>7} | {'-':>13}"
        )
        print(
            f"{size:>8} | {steady.seconds:>8.2f} {1000 * steady.seconds / size:>7.1f} {steady.quota_checks:>6} | "
            f"{first.seconds:>7.2f} {first.quota_checks:>6} | {detail_text}"
            + (f"   FAILED {failed}" if failed else ""),
            flush=True,
        )
        print(f"{'':>8}   steps (steady): " + ", ".join(f"{k} {v:.2f}s" for k, v in steady.timings.items()))
    if len(steady_results) > 1:
        (s0, t0), (s1, t1) = steady_results[0], steady_results[-1]
        print(f"growth (steady): x{s1 / s0:.0f} projects -> x{t1 / t0:.1f} time")
    print(
        f"\nthe Keystone projects are kept for the next run; delete them with: bench/metering.py --cleanup "
        f"--prefix {args.prefix}"
    )
    reference.close()
    runtime.engine.dispose()
    admin.close()


if __name__ == "__main__":
    main()
