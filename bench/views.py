"""Benchmark (not a test): `GET /v1/regions` and `GET /metrics` with many projects, against
`sahab-server api` on PostgreSQL, measured side by side in one run.

Projects are loaded with SQL (each active, with its request, two events and the last metering
collection's quota and usage). Each endpoint is called sequentially after a warm-up; the median and
the 90th percentile of the wall time of one call (HTTP on loopback included) are printed.

    .venv/bin/python bench/views.py [--projects 100000] [--per-project-projects 10000] [--calls 20]

Targets (issue 10): with 100,000 projects, /v1/regions and /metrics (per-project series off) each
under 50 ms; with per-project series on and 10,000 projects, /metrics under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import support  # noqa: E402


def timed(client: httpx.Client, path: str, headers: dict[str, str], calls: int) -> tuple[float, float, int]:
    """(median ms, p90 ms, bytes) over `calls` sequential GETs, after three not counted."""
    durations, size = [], 0
    for n in range(calls + 3):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        size = len(response.content)
        if n >= 3:
            durations.append(elapsed * 1000)
    return statistics.median(durations), support.percentile(durations, 90), size


def measure(projects: int, per_project_projects: int, calls: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="sahab-bench-views-"))
    catalogue = support.big_catalogue(work)
    print(f"machine: {support.machine_note()}; one API process; {calls} sequential calls each")
    rows = []
    with support.postgres() as server, support.issuer() as issuer:
        headers = {"Authorization": f"Bearer {support.bench_token(issuer)}"}
        for count, per_project, target in ((0, False, 50), (projects, False, 50), (per_project_projects, True, 1000)):
            url = support.fresh_database(server, catalogue)
            loaded = support.load_projects(url, count, metering=True)
            with support.sahab_api(url, issuer.url, catalogue, 1, per_project=per_project) as base:
                with httpx.Client(base_url=base, timeout=300) as client:
                    for path in ("/v1/regions", "/metrics"):
                        if per_project and path != "/metrics":
                            continue
                        median, p90, size = timed(client, path, headers, calls)
                        label = f"{path} ({'per-project series on' if per_project else 'per-project off'})"
                        rows.append((count, label, median, p90, size, target))
                        print(
                            f"{count:>7} projects (loaded in {loaded:.1f} s) {label:<40} median {median:8.1f} ms  "
                            f"p90 {p90:8.1f} ms  {size / 1024:8.0f} KiB  target < {target} ms"
                        )
            server.drop_database(url)
    print()
    zero = {label: median for count, label, median, _, _, _ in rows if count == 0}
    for count, label, median, _p90, _, target in rows:
        versus = f"{median / zero[label]:.2f}x the time at 0 projects" if count and label in zero else ""
        verdict = "meets" if median < target else "MISSES"
        print(f"{count:>7} {label:<40} {median:8.1f} ms  {verdict} < {target} ms  {versus}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--per-project-projects", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    measure(args.projects, args.per_project_projects, args.calls)


if __name__ == "__main__":
    main()
