"""A real Prometheus server scrapes a running Sahab API (uvicorn subprocess) and answers PromQL
queries through its HTTP API with the series Sahab exports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from controlplane.composition import build_api
from controlplane.settings import Settings
from tests.support.fakes import RecordingQueue
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import stop
from tests.support.prometheus import lint_problems, seed, tool
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_prometheus_scrapes_sahab_and_answers_promql(sqlite_url, issuer, tmp_path):
    prometheus, promtool = tool("prometheus"), tool("promtool")
    api_port, prom_port = free_port(), free_port()
    env = dict(
        os.environ,
        SAHAB_DATABASE_URL=sqlite_url,
        SAHAB_OIDC_ISSUER=issuer.url,
        SAHAB_BROKER_URL="memory://",
        SAHAB_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
        SAHAB_DATA_DIR=str(tmp_path / "data"),
        SAHAB_DEMO_ACCOUNTS="false",
        SAHAB_METRICS_PER_PROJECT="true",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "mp"),
    )
    (tmp_path / "mp").mkdir()
    runtime = build_api(
        Settings(
            database_url=sqlite_url,
            data_dir=tmp_path / "data",
            oidc_issuer=issuer.url,
            broker_url="memory://",
            demo_accounts=False,
        ),
        queue=RecordingQueue(),
    )
    runtime.prepare_database()
    tenant_id, tenant = seed(runtime)
    runtime.engine.dispose()

    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{ROOT / 'monitoring' / 'prometheus' / 'alerts.yaml'}']\n"
        "scrape_configs:\n"
        f"  - job_name: sahab\n    static_configs: [{{targets: ['127.0.0.1:{api_port}']}}]\n"
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = []
    try:
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "api.server", "api"],
                env=env,
                cwd=ROOT,
                stdout=open(logs / "api.log", "wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        wait_for_port(api_port, 60, "Sahab API", (logs / "api.log").read_text(errors="replace")[-2000:])
        payload = httpx.get(f"http://127.0.0.1:{api_port}/metrics", timeout=30).content
        from controlplane.metrics import EXPORTER_COMPATIBLE_NAMES

        assert [p for p in lint_problems(promtool, payload) if p.split()[0] not in EXPORTER_COMPATIBLE_NAMES] == []

        processes.append(
            subprocess.Popen(
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                stdout=open(logs / "prometheus.log", "wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        wait_for_port(prom_port, 60, "Prometheus", (logs / "prometheus.log").read_text(errors="replace")[-2000:])

        def query(expr: str) -> list[dict]:
            response = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": expr}, timeout=10)
            response.raise_for_status()
            return response.json()["data"]["result"]

        try:
            result = wait_until(
                lambda: query('openstack_nova_limits_vcpus_used{job="sahab"}'), 60, "Prometheus scraping Sahab", 0.5
            )
        except AssertionError:
            raise AssertionError((logs / "prometheus.log").read_text(errors="replace")[-3000:]) from None
        # the label is the Keystone project's name, as provisioning names it
        assert result[0]["metric"]["tenant_id"] == tenant_id and result[0]["metric"]["tenant"] == tenant
        assert float(result[0]["value"][1]) == 3
        assert float(query('openstack_nova_limits_vcpus_max{job="sahab"}')[0]["value"][1]) == 6
        assert float(query('openstack_cinder_limits_volume_used_gb{job="sahab"}')[0]["value"][1]) == 20
        used = query('sahab_region_used{region="rabat-1",resource="vcpus"}')
        assert float(used[0]["value"][1]) == 3
        capacity = query('sahab_region_capacity{region="rabat-1",resource="vcpus"}')
        assert float(capacity[0]["value"][1]) == 256  # 64 x overcommit 4
        drift = query('sum by (kind) (sahab_drift{region="rabat-1"}) > 0')
        assert [(d["metric"]["kind"], d["value"][1]) for d in drift] == [("quota_changed", "1")]
        up = query('up{job="sahab"}')
        assert up[0]["value"][1] == "1"
    finally:
        stop(processes)
