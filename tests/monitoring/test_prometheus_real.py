"""A real Prometheus server scrapes a running Sahab API (uvicorn subprocess) and answers PromQL
queries through its HTTP API with the series Sahab exports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from controlplane.composition import build_api
from controlplane.metering.collect import MeteringCollector
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Project
from controlplane.settings import Settings
from tests.monitoring.conftest import lint_problems, tool
from tests.support.fakes import InMemoryProvisioner, RecordingQueue
from tests.support.metering import FakeCloud
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import stop

ROOT = Path(__file__).resolve().parents[2]


def seed(runtime) -> str:
    """One active project (through the request path and the workflow), metered once from a fake cloud
    with 3 vCPUs used and the vCPU quota changed outside Sahab (drift)."""
    from controlplane.quota_requests import service
    from controlplane.quota_requests.schemas import QuotaRequestCreate
    from controlplane.workflows.provisioning import ProvisioningWorkflow
    from tests import factories

    with transaction(runtime.sessions) as session:
        org = factories.organisation(session)
        request = service.create(
            session,
            runtime.deps,
            factories.person(),
            QuotaRequestCreate(
                organisation_id=org.id, region="rabat-1", environment="prod", preset="small", justification="monitoring"
            ),
        )
    ProvisioningWorkflow(runtime.sessions, runtime.deps, InMemoryProvisioner(), worker_id="w").provision(request.id)
    with transaction(runtime.sessions) as session:
        project = session.get_one(Project, request.project_id)
    cloud = FakeCloud()
    cloud.set(project.openstack_project_id, {**project.granted, "vcpus": 6}, {"vcpus": 3, "volume_gib": 20})
    MeteringCollector(
        runtime.sessions, runtime.catalogue, runtime.deps.clock, lambda region: cloud, timeout=5
    ).collect()
    return project.openstack_project_id


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
    tenant_id = seed(runtime)
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

        deadline = time.monotonic() + 60
        result: list[dict] = []
        while time.monotonic() < deadline:
            result = query('openstack_nova_limits_vcpus_used{job="sahab"}')
            if result:
                break
            time.sleep(0.5)
        assert result, (logs / "prometheus.log").read_text(errors="replace")[-3000:]
        assert result[0]["metric"]["tenant_id"] == tenant_id and result[0]["metric"]["tenant"].startswith("sahab-")
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
