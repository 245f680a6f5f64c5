"""Benchmark (not a test): provisioning one tenant three ways, measured side by side in one run.

For the same tenant (the demo catalogue's rabat-1, preset `small`, private network routed to
`public`), each round measures:

1. `sdk`: the same objects created directly with openstacksdk (project, user, role, Nova, Cinder
   and Neutron quotas, network, subnet, router and its interface);
2. `bare up`: the tenant stack program under a bare Automation API `up` (create the stack, `up`),
   same engine, provider, file backend and passphrase secrets as Sahab;
3. `sahab`: Sahab end to end, from `POST /v1/quota-requests` to `active` (API and one worker as
   subprocesses, the request polled every 50 ms), on the embedded broker (SQLite, kombu filesystem
   transport) and on RabbitMQ (PostgreSQL, RabbitMQ started here).

Everything created is removed after each measurement (not timed). Prints each round, the medians
and the ratios to the bare `up`.

    eval "$(devcloud/sahab-devcloud env)"; eval "$(toolchain/ensure-pulumi --env)"
    .venv/bin/python bench/provisioning.py [--rounds 3] [--brokers embedded,rabbitmq]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import openstack  # noqa: E402

from controlplane.contract import TenantSpec, new_password, quota_fields  # noqa: E402
from controlplane.domain.regions import DEMO_CATALOGUE, load_catalogue  # noqa: E402
from controlplane.domain.resources import PRESETS, as_plain  # noqa: E402
from tests.support.ports import free_port, wait_for_port  # noqa: E402
from tests.support.tenants import cleanup  # noqa: E402

REGION = load_catalogue(DEMO_CATALOGUE).get("rabat-1")
QUOTA = as_plain(PRESETS["small"])


def spec(tag: str) -> TenantSpec:
    return TenantSpec(
        project_id=f"prj_bench{tag}",
        organisation_id=f"org_bench{tag}",
        organisation_name="Bench",
        request_id="req_bench",
        region_id=REGION.id,
        cloud=REGION.cloud,
        openstack_region=REGION.openstack_region,
        domain_id=REGION.domain_id,
        environment="bench",
        quota=QUOTA,
        external_network=REGION.external_network,
        create_network=True,
    )


def admin() -> Any:
    return openstack.connect(cloud=REGION.cloud, region_name=REGION.openstack_region, api_timeout=60)


# -- 1. openstacksdk ------------------------------------------------------------------
def with_sdk(tag: str) -> float:
    s = spec(tag)
    started = time.monotonic()
    conn = admin()
    project = conn.identity.create_project(
        name=s.openstack_project_name, domain_id=s.domain_id, tags=[f"sahab-project={s.project_id}"]
    )
    user = conn.identity.create_user(
        name=s.user_name, domain_id=s.domain_id, default_project_id=project.id, password=new_password()
    )
    role = conn.identity.find_role("member")
    conn.identity.assign_project_role_to_user(project, user, role)
    conn.compute.put(
        f"/os-quota-sets/{project.id}", json={"quota_set": quota_fields(s.quota, "compute")}, microversion="2.1"
    ).raise_for_status()
    conn.block_storage.put(
        f"/os-quota-sets/{project.id}", json={"quota_set": quota_fields(s.quota, "block-storage")}
    ).raise_for_status()
    conn.network.update_quota(project.id, **quota_fields(s.quota, "network"))
    network = conn.network.create_network(name=f"{s.openstack_project_name}-net", project_id=project.id)
    subnet = conn.network.create_subnet(
        name=f"{s.openstack_project_name}-subnet",
        network_id=network.id,
        project_id=project.id,
        cidr="10.42.0.0/24",
        ip_version=4,
    )
    external = conn.network.find_network(s.external_network)
    router = conn.network.create_router(
        name=f"{s.openstack_project_name}-router",
        project_id=project.id,
        external_gateway_info={"network_id": external.id},
    )
    conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    elapsed = time.monotonic() - started
    cleanup(conn, s.organisation_id)
    conn.close()
    return elapsed


# -- 2. bare Automation API up ------------------------------------------------------------
def with_bare_up(tag: str) -> float:
    from pulumi import automation as auto

    from stacks.tenant import tenant_program

    s = spec(tag)
    work = Path(tempfile.mkdtemp(prefix="sahab-bench-up-"))
    (work / "state").mkdir()
    auth_url = admin().config.config["auth"]["auth_url"]
    password = new_password()
    started = time.monotonic()
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(work),
        pulumi_home=str(work / "home"),
        secrets_provider="passphrase",
        env_vars={
            "PULUMI_CONFIG_PASSPHRASE": "bench",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        },
        project_settings=auto.ProjectSettings(
            name="sahab-tenants", runtime="python", backend=auto.ProjectBackend(url=f"file://{work / 'state'}")
        ),
    )
    program = lambda: tenant_program(s, auth_url, password)  # noqa: E731
    stack = auto.create_or_select_stack(
        stack_name=s.project_id, project_name="sahab-tenants", program=program, opts=opts
    )
    stack.up(program=program, color="never", on_event=lambda _e: None)
    elapsed = time.monotonic() - started
    stack.destroy(program=program, color="never")
    return elapsed


# -- 3. Sahab end to end --------------------------------------------------------------------
class Sahab:
    """API and one worker as subprocesses on one data directory (what `sahab-server all` runs, minus beat)."""

    def __init__(self, broker_url: str, database_url: str | None, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            "SAHAB_DATA_DIR": str(data_dir),
            "SAHAB_BROKER_URL": broker_url,
            "SAHAB_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            "SAHAB_DEMO_ACCOUNTS": "true",
            "SAHAB_OIDC_ISSUER": "",
            "SAHAB_PROVISIONER": "pulumi",
            "PYTHONPATH": str(ROOT),
        }
        if database_url:
            self.env["SAHAB_DATABASE_URL"] = database_url
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Sahab:
        server = [sys.executable, "-m", "api.server"]
        subprocess.run(server + ["migrate"], env=self.env, check=True, capture_output=True)
        for name in ("api", "worker"):
            log = open(self.data_dir / f"{name}.log", "wb")
            self.processes.append(
                subprocess.Popen(
                    server + ([name] if name == "api" else [name, "--concurrency", "1"]),
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        wait_for_port(self.port, 60, "Sahab API", f"see {self.data_dir / 'api.log'}")
        deadline = time.monotonic() + 120
        while b" ready." not in (self.data_dir / "worker.log").read_bytes():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start: {self.data_dir / 'worker.log'}")
            time.sleep(0.2)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        token = self.http.post(
            "/issuer/token",
            data={"grant_type": "client_credentials"},
            auth=("agency-automation", "agency-automation-secret"),
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        return self

    def __exit__(self, *_: object) -> None:
        for process in self.processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def wait(self, request_id: str, states: set[str], timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            request = self.http.get(f"/v1/quota-requests/{request_id}", headers=self.headers).json()
            if request["state"] in states:
                return request
            time.sleep(0.05)
        raise RuntimeError(f"request {request_id} did not reach {states}; see {self.data_dir}")

    def provision(self, tag: str) -> float:
        started = time.monotonic()
        created = self.http.post(
            "/v1/quota-requests",
            headers=self.headers,
            json={
                "organisation_id": "org_demo_agency",
                "region": REGION.id,
                "environment": f"bench{tag}",
                "preset": "small",
                "justification": "benchmark",
            },
        )
        created.raise_for_status()
        request = self.wait(created.json()["id"], {"active", "failed"})
        elapsed = time.monotonic() - started
        if request["state"] != "active":
            raise RuntimeError(f"provisioning failed: {request['reason']}")
        self.http.post(f"/v1/projects/{request['project_id']}/decommission", headers=self.headers).raise_for_status()
        self.wait(request["id"], {"decommissioned"})
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--brokers", default="embedded,rabbitmq")
    args = parser.parse_args()
    brokers = args.brokers.split(",")
    results: dict[str, list[float]] = {}
    servers: list[Any] = []
    sahabs: dict[str, Sahab] = {}
    try:
        for broker in brokers:
            data = Path(tempfile.mkdtemp(prefix=f"sahab-bench-{broker}-"))
            if broker == "embedded":
                sahabs[broker] = Sahab("filesystem://", None, data).__enter__()
            else:
                from tests.support.postgres import PostgresServer
                from tests.support.rabbitmq import RabbitServer

                rabbit, postgres = RabbitServer(data / "rabbitmq").start(), PostgresServer().start()
                servers += [rabbit, postgres]
                sahabs[broker] = Sahab(rabbit.url, postgres.create_database(), data).__enter__()
        methods: dict[str, Callable[[str], float]] = {"sdk": with_sdk, "bare up": with_bare_up}
        methods.update({f"sahab ({broker})": sahab.provision for broker, sahab in sahabs.items()})
        for method in methods.values():  # warm-up, not counted: imports, plugin caches, first tokens
            method(uuid.uuid4().hex[:8])
        for round_ in range(1, args.rounds + 1):
            line = []
            for label, method in methods.items():
                seconds = method(uuid.uuid4().hex[:8])
                results.setdefault(label, []).append(seconds)
                line.append(f"{label} {seconds:.2f}s")
            print(f"round {round_}: " + ", ".join(line), flush=True)
    finally:
        for sahab in sahabs.values():
            sahab.__exit__()
        for server in servers:
            server.stop()
    bare = statistics.median(results["bare up"])
    print("\nmedian of", args.rounds, "rounds (ratio to the bare up):")
    for label, values in results.items():
        median = statistics.median(values)
        print(f"  {label:<20} {median:6.2f}s  {median / bare:5.2f}x   (min {min(values):.2f}s, max {max(values):.2f}s)")


if __name__ == "__main__":
    main()
