"""Benchmark (not a test): `POST /v1/quota-requests` throughput and latency on PostgreSQL, Sahab
against a bare FastAPI app with the same number of uvicorn workers parsing a similar body
(bench/bare_app.py), with 16 concurrent clients (wrk), measured side by side in one run, with 0,
10,000 and 100,000 projects already present (loaded with SQL, not through the API).

Every request is a new `small` project of a verified business, signed with a token of the test
OIDC issuer and carrying its own Idempotency-Key, so each one runs the whole path: token, claim of
the key, admission under the region lock, the grant, the commit, the after-commit send (to an
in-memory broker by default: `--broker amqp://...` for a real one) and the stored answer.
PostgreSQL runs with fsync and synchronous commit on.

    .venv/bin/python bench/admission.py [--sizes 0,10000,100000] [--workers 2] [--seconds 10]
    .venv/bin/python bench/admission.py --profile 200   # pyinstrument over 200 requests, in-process

Targets (issue 10): Sahab at least 25 % of the bare app's throughput; p99 under 100 ms; throughput
at 100,000 projects within 20 % of throughput at 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import support  # noqa: E402

CLIENTS = 16

WRK_SCRIPT = """
local counter, threads = 0, 0
function setup(thread) thread:set("id", threads); threads = threads + 1 end
function init(args) counter = 0 end
function request()
  counter = counter + 1
  local env = string.format("e%s-%d-%d", "{run}", id, counter)
  local body = string.format('{{"organisation_id": "{org}", "region": "rabat-1", "environment": "%s", '
    .. '"preset": "small", "justification": "benchmark request %d"}}', env, counter)
  local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {token}",
                   ["Idempotency-Key"] = env}}
  return wrk.format("POST", "/v1/quota-requests", headers, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p99_us": %d, "max_us": %d}}\\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def wrk(base_url: str, token: str, seconds: int, directory: Path) -> dict[str, float]:
    script = directory / f"wrk-{uuid.uuid4().hex[:6]}.lua"
    script.write_text(WRK_SCRIPT.format(run=uuid.uuid4().hex[:4], org=support.BENCH_ORG, token=token))
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(min(2, CLIENTS)),
            "-c",
            str(CLIENTS),
            "-d",
            f"{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            f"{base_url}/v1/quota-requests",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def check_totals_match(url: str) -> bool:
    from controlplane.capacity import lock_region, recompute
    from controlplane.persistence.database import make_engine, make_session_factory, transaction

    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        stored, actual = lock_region(session, "rabat-1").sums, recompute(session, "rabat-1")
    engine.dispose()
    return (stored.all, stored.business) == (actual.all, actual.business)


def measure(sizes: list[int], workers: int, seconds: int, broker: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="sahab-bench-admission-"))
    catalogue = support.big_catalogue(work)
    rows = []
    with support.postgres() as server, support.issuer() as issuer:
        token = support.bench_token(issuer)
        print(
            f"machine: {support.machine_note()}; {workers} uvicorn workers each; {CLIENTS} clients (wrk); "
            f"{seconds} s per measurement after a 3 s warm-up"
        )
        for size in sizes:
            url = support.fresh_database(server, catalogue)
            loaded = support.load_projects(url, size)
            print(f"{size:>7} projects loaded with SQL in {loaded:.1f} s")
            with support.sahab_api(url, issuer.url, catalogue, workers, broker_url=broker) as base:
                wrk(base, token, 3, work)
                sahab = wrk(base, token, seconds, work)
            with support.bare_api(workers) as base:
                wrk(base, token, 3, work)
                bare = wrk(base, token, seconds, work)
            matched = check_totals_match(url)
            rows.append((size, sahab, bare, matched))
            print(
                f"{size:>7} projects: Sahab {sahab['rps']:7.1f} req/s p50 {sahab['p50_us'] / 1000:6.1f} ms "
                f"p99 {sahab['p99_us'] / 1000:6.1f} ms (non-2xx {sahab['non_2xx']}, socket errors {sahab['socket_errors']}) | "
                f"bare {bare['rps']:7.1f} req/s p99 {bare['p99_us'] / 1000:5.1f} ms | "
                f"ratio {sahab['rps'] / bare['rps']:.1%} | totals match: {matched}"
            )
            server.drop_database(url)
    print()
    print(f"{'projects':>8} {'Sahab/bare':>11} {'p99 ms':>7} {'vs 0 projects':>14}")
    base_rps = rows[0][1]["rps"]
    for size, sahab, bare, _ in rows:
        print(
            f"{size:>8} {sahab['rps'] / bare['rps']:>11.1%} {sahab['p99_us'] / 1000:>7.1f} {sahab['rps'] / base_rps - 1:>+14.1%}"
        )
    print("targets: Sahab/bare >= 25 %; p99 < 100 ms; throughput at 100,000 projects within 20 % of at 0")


def profile(count: int, size: int) -> None:
    """pyinstrument over `count` requests through the ASGI app in this process and thread: what
    uvicorn would run in its thread pool runs inline here, so the profiler sees all of it."""
    import asyncio

    import anyio.to_thread
    import httpx
    from pyinstrument import Profiler

    from api.app import create_app
    from controlplane.settings import Settings

    async def inline(func, *args, **_):  # type: ignore[no-untyped-def]
        return func(*args)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    work = Path(tempfile.mkdtemp(prefix="sahab-bench-profile-"))
    catalogue = support.big_catalogue(work)
    with support.postgres() as server, support.issuer() as issuer:
        url = support.fresh_database(server, catalogue)
        support.load_projects(url, size)
        settings = Settings(
            database_url=url,
            oidc_issuer=issuer.url,
            catalogue_path=catalogue,
            data_dir=work,
            demo_accounts=False,
            broker_url="memory://",
        )
        headers = {"Authorization": f"Bearer {support.bench_token(issuer)}"}
        app = create_app(settings)

        async def run() -> None:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sahab") as client:

                async def post(n: int) -> None:
                    env = f"p{n}"
                    response = await client.post(
                        "/v1/quota-requests",
                        headers={**headers, "Idempotency-Key": env},
                        json={
                            "organisation_id": support.BENCH_ORG,
                            "region": "rabat-1",
                            "environment": env,
                            "preset": "small",
                            "justification": "profiled request",
                        },
                    )
                    assert response.status_code == 201, response.text

                for n in range(20):
                    await post(n)
                profiler = Profiler(interval=0.0002, async_mode="disabled")
                profiler.start()
                started = time.perf_counter()
                for n in range(20, 20 + count):
                    await post(n)
                elapsed = time.perf_counter() - started
                profiler.stop()
                print(profiler.output_text(unicode=True, color=False, show_all=False))
                print(
                    f"{count} requests one after another in {elapsed:.2f} s: {elapsed / count * 1000:.1f} ms each "
                    f"(with the profiler's overhead), {size} projects loaded"
                )

        asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0,10000,100000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--broker", default="memory://")
    parser.add_argument("--profile", type=int, default=0, help="profile this many requests in-process instead")
    parser.add_argument("--profile-projects", type=int, default=10000)
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.profile_projects)
        return
    measure([int(s) for s in args.sizes.split(",")], args.workers, args.seconds, args.broker)


if __name__ == "__main__":
    main()
