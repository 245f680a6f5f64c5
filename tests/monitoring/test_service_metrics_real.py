"""A real Prometheus scrapes the API and a Celery worker (separate processes, each with its own
metrics directory, as in pods) while a request is sent to provisioning through the embedded
filesystem broker. The worker runs the `unavailable` provisioner: the provision task runs and is
timed, and leaves the request waiting (real Pulumi provisioning is tested in tests/e2e)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from controlplane.metrics import EXPORTER_COMPATIBLE_NAMES
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import stop
from tests.support.prometheus import lint_problems, tool
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_prometheus_sees_http_task_queue_worker_and_process_metrics(sqlite_url, issuer, tmp_path):
    prometheus, promtool = tool("prometheus"), tool("promtool")
    api_port, worker_port, prom_port = free_port(), free_port(), free_port()
    base = dict(
        os.environ,
        SAHAB_DATABASE_URL=sqlite_url,
        SAHAB_OIDC_ISSUER=issuer.url,
        SAHAB_BROKER_URL="filesystem://",
        SAHAB_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
        SAHAB_DATA_DIR=str(tmp_path / "data"),
        SAHAB_DEMO_ACCOUNTS="false",
        SAHAB_PROVISIONER="unavailable",
        SAHAB_PROCESS_METRICS_INTERVAL_SECONDS="1",
    )
    envs = {}
    for role in ("api", "worker"):
        (tmp_path / f"mp-{role}").mkdir()
        envs[role] = dict(base, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / f"mp-{role}"))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{ROOT / 'monitoring' / 'prometheus' / 'alerts.yaml'}']\n"
        "scrape_configs:\n"
        f"  - job_name: sahab-api\n    static_configs: [{{targets: ['127.0.0.1:{api_port}']}}]\n"
        f"  - job_name: sahab-worker\n    static_configs: [{{targets: ['127.0.0.1:{worker_port}']}}]\n"
    )
    logs = tmp_path / "logs"
    logs.mkdir()

    def spawn(name: str, command: list[str], env: dict[str, str] | None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=open(logs / f"{name}.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(name: str) -> str:
        return (logs / f"{name}.log").read_text(errors="replace")[-3000:]

    processes = []
    try:
        processes.append(spawn("api", [sys.executable, "-m", "api.server", "api"], envs["api"]))
        processes.append(
            spawn(
                "worker",
                [
                    sys.executable,
                    "-m",
                    "api.server",
                    "worker",
                    "--concurrency",
                    "1",
                    "--name",
                    "observed@test",
                    "--metrics-port",
                    str(worker_port),
                ],
                envs["worker"],
            )
        )
        wait_for_port(api_port, 60, "Sahab API", log("api"))
        wait_for_port(worker_port, 90, "the worker's metrics endpoint", log("worker"))
        processes.append(
            spawn(
                "prometheus",
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                None,
            )
        )
        wait_for_port(prom_port, 60, "Prometheus", log("prometheus"))

        api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30)
        owner, operator = issuer.headers("nadia"), issuer.headers("omar", roles=("operator", "approver"))
        org = api.post(
            "/v1/organisations",
            headers=owner,
            json={
                "kind": "business",
                "legal_name": "Atlas Observed SARL",
                "national_id": "009988776655443",
                "contact_email": "ops@atlas.example",
            },
        ).json()
        assert api.post(f"/v1/organisations/{org['id']}/verify", headers=operator).status_code == 200
        created = api.post(
            "/v1/quota-requests",
            headers=owner,
            json={
                "organisation_id": org["id"],
                "region": "rabat-1",
                "environment": "prod",
                "preset": "small",
                "justification": "observed",
            },
        )
        assert created.status_code == 201 and created.json()["state"] == "approved", created.text

        def query(expr: str) -> list[dict]:
            response = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": expr}, timeout=10)
            response.raise_for_status()
            return response.json()["data"]["result"]

        def eventually(expr: str, timeout: float = 90) -> list[dict]:
            try:
                return wait_until(lambda: query(expr), timeout, f"a result for {expr}", interval=0.5)
            except AssertionError as late:
                raise AssertionError(f"{late}\nworker: {log('worker')}\nprometheus: {log('prometheus')}") from None

        # The route-level histogram, by template and status class.
        buckets = eventually(
            'sahab_http_request_duration_seconds_bucket{job="sahab-api",handler="/v1/quota-requests",method="POST",status="2xx"}'
        )
        assert {b["metric"]["le"] for b in buckets} >= {"0.05", "0.1", "0.25", "+Inf"}
        assert (
            float(
                eventually(
                    'sahab_http_requests_total{job="sahab-api",handler="/v1/organisations/{organisation_id}/verify"}'
                )[0]["value"][1]
            )
            == 1
        )
        # The provision task's duration, from the worker's own endpoint.
        provision = eventually('sahab_task_duration_seconds_count{job="sahab-worker",task="sahab.provision"} >= 1')
        assert provision[0]["metric"]["outcome"] == "success"
        assert eventually(
            'histogram_quantile(0.5, sum by (le) (sahab_task_duration_seconds_bucket{task="sahab.provision"}))'
        )
        # The queue, read by the API from the broker's folder; it was drained by the worker.
        depth = eventually('sahab_queue_messages{job="sahab-api",queue="sahab"}')
        assert float(depth[0]["value"][1]) == 0
        assert eventually('sahab_queue_oldest_message_age_seconds{job="sahab-api",queue="sahab"}')
        assert float(eventually('sahab_broker_up{job="sahab-api"}')[0]["value"][1]) == 1
        # The worker is alive, and every process reports its CPU, memory and open files.
        heartbeat = eventually('time() - sahab_worker_last_heartbeat_timestamp_seconds{worker="observed@test"} < 30')
        assert heartbeat[0]["metric"]["job"] == "sahab-worker"
        assert eventually(
            'changes(sahab_worker_last_heartbeat_timestamp_seconds{worker="observed@test"}[1m]) > 0', 30
        )  # beating
        roles = {
            (r["metric"]["job"], r["metric"]["role"]) for r in eventually("sahab_process_resident_memory_bytes > 0")
        }
        assert {("sahab-api", "api"), ("sahab-worker", "worker")} <= roles
        assert eventually('sahab_process_open_fds{job="sahab-worker"} > 0')
        # The rules load and evaluate, and no worker-down alert fires while the worker lives.
        groups = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/rules", timeout=10).json()["data"]["groups"]
        assert {g["name"] for g in groups} >= {"sahab", "sahab-slo-recording", "sahab-service"}
        assert all(rule["health"] != "err" for g in groups for rule in g["rules"]), groups
        assert not query('ALERTS{alertname="SahabNoWorkerAlive",alertstate="firing"}')

        for port in (api_port, worker_port):
            payload = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).content
            problems = [p for p in lint_problems(promtool, payload) if p.split()[0] not in EXPORTER_COMPATIBLE_NAMES]
            assert problems == [], (port, problems)
    finally:
        stop(processes)
