"""`sahab-server api --workers N` as a real subprocess, for tests and benchmarks that need several
API processes (the race, faults under load)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.ports import free_port, wait_for_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def sahab_api(
    database_url: str, issuer_url: str, *, workers: int = 2, catalogue: Path | None = None, **settings: str
) -> Iterator[str]:
    """Serve the API on a free port until the block ends; yields its base URL. `settings` are
    extra SAHAB_* values by lower-case name (e.g. metrics_per_project="true")."""
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="sahab-api-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SAHAB_DATABASE_URL": database_url,
        "SAHAB_OIDC_ISSUER": issuer_url,
        "SAHAB_DATA_DIR": str(data),
        "SAHAB_DEMO_ACCOUNTS": "false",
        "SAHAB_BROKER_URL": "memory://",
        "SAHAB_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PROMETHEUS_MULTIPROC_DIR": str(data / "metrics"),
    }
    (data / "metrics").mkdir()
    if catalogue is not None:
        env["SAHAB_CATALOGUE_PATH"] = str(catalogue)
    env.update({f"SAHAB_{name.upper()}": value for name, value in settings.items()})
    log_path = data / "api.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.server", "api", "--workers", str(workers)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/healthz", process, log_path)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    wait_for_port(int(url.split(":")[2].split("/")[0]), timeout, "sahab-server api", f"see {log}")

    def answers() -> bool:  # a process's readiness announces nothing: poll it
        if process.poll() is not None:
            raise RuntimeError(f"sahab-server api exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            return httpx.get(url, timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, deadline - time.monotonic(), f"{url} answering 200; see {log}", 0.2, RuntimeError)


def post_all(
    base_url: str, path: str, requests: list[tuple[dict[str, str], dict[str, object]]], *, timeout: float = 120
) -> list[httpx.Response | Exception]:
    """POST every (headers, body) at once, each on its own connection; answers in order (an
    exception where no answer came)."""
    import asyncio

    async def run() -> list[httpx.Response | Exception]:
        limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as client:
            return await asyncio.gather(
                *(client.post(path, headers=h, json=b) for h, b in requests), return_exceptions=True
            )

    return asyncio.run(run())
