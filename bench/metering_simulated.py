"""Benchmark (not a test): Sahab's own cost of one metering collection at 100,000 projects, with the
cloud's answers served from a small HTTP server on loopback.

The answers are real: `capture` makes one project on the local OpenStack (servers, a volume and its
snapshot, a network, subnet, router, floating IP, security group), runs one real collection through a
recording connection and stores every answer (token and catalogue, version documents, the listings,
the quota reads, Placement) in bench/data/metering-capture.json, then deletes the project. `run`
serves them scaled up: the listings hold the captured project's objects once per simulated project
(new ids, paginated with limit/marker and next links as the services do), Keystone lists the
projects, Neutron lists their quotas, and each quota read answers for the project asked. The
server runs in its own process; the collector (the real OpenStackReader through openstacksdk, the
real store into the database) runs in this one, so its CPU time is this process's.

The projects are loaded with SQL into a temporary SQLite database (or --database-url) as active
Sahab projects whose quota checks are spread as after an hour of collections, so the measured
collection is a steady one: usage and Neutron quotas for all, Nova and Cinder quotas for 1/12.

    eval "$(devcloud/sahab-devcloud env)"; .venv/bin/python bench/metering_simulated.py capture
    .venv/bin/python bench/metering_simulated.py run [--projects 100000] [--workers 8] [--collections 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controlplane.metering.reader import LISTINGS, OpenStackReader  # noqa: E402

CAPTURE = ROOT / "bench" / "data" / "metering-capture.json"
CLOUD = "sahab-devcloud"
PAGE_SIZE = 1000


# -- capture -------------------------------------------------------------------------------------
def capture(path: Path) -> None:
    import openstack

    from controlplane.domain.regions import DEMO_CATALOGUE, load_catalogue

    admin = openstack.connect(cloud=CLOUD, api_timeout=60)
    admin.authorize()
    name = f"sahab-bench-sim-{uuid.uuid4().hex[:8]}"
    project = admin.identity.create_project(name=name, domain_id="default", description="sahab metering capture")
    try:
        user = admin.identity.find_user("admin", domain_id="default", ignore_missing=False)
        admin.identity.assign_project_role_to_user(
            project, user, admin.identity.find_role("admin", ignore_missing=False)
        )
        admin.compute.update_quota_set(project.id, cores=8, ram=16384, instances=8)
        admin.block_storage.update_quota_set(project.id, gigabytes=100, volumes=10, snapshots=10)
        admin.network.update_quota(
            project.id,
            networks=4,
            subnets=4,
            ports=40,
            routers=2,
            floating_ips=4,
            security_groups=10,
            security_group_rules=100,
        )
        conn = openstack.connect(
            cloud=CLOUD, project_id=project.id, project_name="", project_domain_name="", api_timeout=60
        )
        network = conn.network.create_network(name=f"{name}-net")
        subnet = conn.network.create_subnet(network_id=network.id, ip_version=4, cidr="10.93.0.0/24")
        group = conn.network.create_security_group(name=f"{name}-sg")
        conn.network.create_security_group_rule(
            security_group_id=group.id,
            direction="ingress",
            protocol="tcp",
            port_range_min=443,
            port_range_max=443,
            ethertype="IPv4",
        )
        public = admin.network.find_network("public", ignore_missing=False)
        router = conn.network.create_router(name=f"{name}-router", external_gateway_info={"network_id": public.id})
        conn.network.add_interface_to_router(router, subnet_id=subnet.id)
        conn.network.create_ip(floating_network_id=public.id)
        image = admin.image.find_image("tiny", ignore_missing=False)
        servers = [
            conn.compute.create_server(
                name=f"{name}-vm{i}",
                image_id=image.id,
                networks=[{"uuid": network.id}],
                flavor_id=admin.compute.find_flavor(flavor, ignore_missing=False).id,
            )
            for i, flavor in enumerate(("m1.tiny", "m1.small"))
        ]
        for server in servers:
            conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], wait=180)
        volume = conn.block_storage.create_volume(name=f"{name}-vol", size=2)
        conn.block_storage.wait_for_status(volume, status="available", failures=["error"], wait=120)
        snapshot = conn.block_storage.create_snapshot(volume_id=volume.id, name=f"{name}-snap")
        conn.block_storage.wait_for_status(snapshot, status="available", failures=["error"], wait=120)
        conn.close()

        exchanges: list[dict[str, Any]] = []

        def record(response: Any, *args: Any, **kwargs: Any) -> None:
            exchanges.append(
                {
                    "method": response.request.method,
                    "url": response.request.url,
                    "status": response.status_code,
                    "body": response.text,
                    "headers": {
                        k: v
                        for k, v in response.headers.items()
                        if k.lower() in ("content-type", "x-subject-token", "openstack-api-version")
                    },
                }
            )

        region = load_catalogue(DEMO_CATALOGUE).get("rabat-1")
        recording = openstack.connect(cloud=region.cloud, region_name=region.openstack_region, api_timeout=60)
        recording.session.session.hooks["response"].append(record)
        recording.authorize()
        reader = OpenStackReader(region, timeout=60, page_size=PAGE_SIZE)
        reader._connection = recording
        for proxy in ("identity", "compute", "block_storage", "network", "placement"):
            getattr(recording, proxy)
        reader.projects(region.domain_id)
        for listing in LISTINGS:
            reader.read_usage(listing.name)
        reader.read_bulk_quotas()
        reader.read_quota(project.id)
        reader.read_capacity()
        recording.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "project_id": project.id,
                    "project_name": name,
                    "captured_at": datetime.now(UTC).isoformat(),
                    "exchanges": [only_captured_project(e, project.id) for e in exchanges],
                },
                indent=1,
            )
        )
        print(f"captured {len(exchanges)} answers of the local OpenStack into {path}")
    finally:
        remove_project(admin, project.id)
        admin.close()


def only_captured_project(exchange: dict[str, Any], project_id: str) -> dict[str, Any]:
    """The exchange without other projects' objects (the devcloud is shared) and without the token."""
    path = urlsplit(exchange["url"]).path
    if "X-Subject-Token" in exchange["headers"]:
        exchange["headers"]["X-Subject-Token"] = "simulated-token"
    lists = [listing.key for listing in LISTINGS if path.endswith(listing.path)]
    lists += ["projects"] if path.endswith("/v3/projects") else ["quotas"] if path.endswith("/quotas") else []
    if lists:
        body = json.loads(exchange["body"])
        owners = (
            "id",
            "project_id",
            "tenant_id",
            "os-vol-tenant-attr:tenant_id",
            "os-extended-snapshot-attributes:project_id",
        )
        body[lists[0]] = [
            item
            for item in body[lists[0]]
            if any(item.get(key) == project_id for key in owners[0 if lists == ["projects"] else 1 :])
        ]
        exchange["body"] = json.dumps(body)
    return exchange


def remove_project(admin: Any, project_id: str) -> None:
    compute, storage, net = admin.compute, admin.block_storage, admin.network
    for server in list(compute.servers(all_projects=True, project_id=project_id)):
        compute.delete_server(server)
        compute.wait_for_delete(server, wait=120)
    for snapshot in list(storage.snapshots(all_projects=True, project_id=project_id)):
        storage.delete_snapshot(snapshot)
        storage.wait_for_delete(snapshot, wait=60)
    for volume in list(storage.volumes(all_projects=True, project_id=project_id)):
        storage.delete_volume(volume)
        storage.wait_for_delete(volume, wait=60)
    for ip in list(net.ips(project_id=project_id)):
        net.delete_ip(ip)
    for router in list(net.routers(project_id=project_id)):
        for port in net.ports(device_id=router.id, device_owner="network:router_interface"):
            net.remove_interface_from_router(router, port_id=port.id)
        net.delete_router(router)
    for subnet in list(net.subnets(project_id=project_id)):
        net.delete_subnet(subnet)
    for network in list(net.networks(project_id=project_id)):
        net.delete_network(network)
    for group in list(net.security_groups(project_id=project_id)):
        net.delete_security_group(group)
    compute.revert_quota_set(project_id)
    storage.revert_quota_set(project_id)
    net.delete_quota(project_id)
    admin.identity.delete_project(project_id)


# -- serve ---------------------------------------------------------------------------------------
def _project_of(listing: Any, item: dict[str, Any]) -> str:
    return listing.count(item)[0]


class Simulated:
    """The captured answers, scaled to `projects` projects (ids derived from their index)."""

    def __init__(self, data: dict[str, Any], projects: int, port: int) -> None:
        self.projects = projects
        template = data["project_id"]
        ports = sorted({int(m) for e in data["exchanges"] for m in re.findall(r"http://127\.0\.0\.1:(\d+)", e["url"])})
        mine = f"http://127.0.0.1:{port}"

        def rewrite(text: str) -> str:
            for real in ports:
                text = text.replace(f"http://127.0.0.1:{real}", f"{mine}/p{real}")
            return text

        self.replay: dict[tuple[str, str], dict[str, Any]] = {}
        self.listings: dict[str, tuple[Any, list[str]]] = {}  # "/p8774/v2.1/servers/detail" -> (listing, templates)
        self.quota_sets: dict[str, str] = {}  # path prefix -> body with @@PID@@
        for exchange in data["exchanges"]:
            url = urlsplit(exchange["url"])
            path = f"/p{url.port}{url.path}".rstrip("/")
            body = exchange["body"]
            listing = next(
                (entry for entry in LISTINGS if url.path.endswith(entry.path) and exchange["method"] == "GET"), None
            )
            if listing is not None:
                items = [i for i in json.loads(body)[listing.key] if _project_of(listing, i) == template]
                known = self.listings.setdefault(path, (listing, []))[1]
                known.extend(json.dumps(i).replace(template, "@@PID@@").replace(i["id"], "@@OID@@") for i in items)
                continue
            if "/os-quota-sets/" in url.path:
                self.quota_sets[path.rsplit("/", 1)[0] + "/"] = body.replace(template, "@@PID@@")
                continue
            if url.path.endswith("/v3/projects"):
                item = next(p for p in json.loads(body)["projects"] if p["id"] == template)
                self.keystone_project = rewrite(json.dumps(item)).replace(template, "@@PID@@")
                self.projects_path = path
                continue
            if url.path.endswith("/quotas") and "quotas" in body:
                entry = next(
                    q for q in json.loads(body)["quotas"] if template in (q.get("project_id"), q.get("tenant_id"))
                )
                self.network_quota = json.dumps(entry).replace(template, "@@PID@@")
                self.network_quotas_path = path
                continue
            if exchange["method"] == "POST" and url.path.endswith("/auth/tokens"):
                token = json.loads(body)
                token["token"]["expires_at"] = (datetime.now(UTC) + timedelta(days=1)).strftime(
                    "%Y-%m-%dT%H:%M:%S.000000Z"
                )
                body = json.dumps(token)
            self.replay[(exchange["method"], path)] = {**exchange, "body": rewrite(body).encode()}

    @staticmethod
    def project_id(index: int) -> str:
        return f"5a4ab{index:027x}"

    @staticmethod
    def object_id(kind: int, index: int) -> str:
        return f"{kind:08x}-0000-4000-8000-{index:012x}"

    def page(self, path: str, query: dict[str, list[str]]) -> bytes:
        listing, templates = self.listings[path]
        limit = int(query.get("limit", [PAGE_SIZE])[0])
        kind = LISTINGS.index(listing) + 1
        start = int(query["marker"][0].rsplit("-", 1)[1], 16) + 1 if "marker" in query else 0
        total = self.projects * len(templates)
        end = min(start + limit, total)
        items = ",".join(
            templates[k % len(templates)]
            .replace("@@PID@@", self.project_id(k // len(templates)))
            .replace("@@OID@@", self.object_id(kind, k))
            for k in range(start, end)
        )
        links = f', "{listing.key}_links": [{{"rel": "next", "href": "x"}}]' if end - start == limit else ""
        return f'{{"{listing.key}": [{items}]{links}}}'.encode()

    def answer(self, method: str, target: str) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(target)
        path, query = url.path.rstrip("/") or "/", parse_qs(url.query)
        json_type = {"Content-Type": "application/json"}
        if method == "GET" and path in self.listings:
            return 200, json_type, self.page(path, query)
        if method == "GET" and path == getattr(self, "projects_path", None):
            items = ",".join(self.keystone_project.replace("@@PID@@", self.project_id(i)) for i in range(self.projects))
            return 200, json_type, f'{{"projects": [{items}], "links": {{"next": null}}}}'.encode()
        if method == "GET" and path == getattr(self, "network_quotas_path", None):
            items = ",".join(self.network_quota.replace("@@PID@@", self.project_id(i)) for i in range(self.projects))
            return 200, json_type, f'{{"quotas": [{items}]}}'.encode()
        prefix = path.rsplit("/", 1)[0] + "/"
        if method == "GET" and prefix in self.quota_sets:
            return 200, json_type, self.quota_sets[prefix].replace("@@PID@@", path.rsplit("/", 1)[1]).encode()
        recorded = self.replay.get((method, path))
        if recorded is None:
            return 404, json_type, json.dumps({"error": f"not captured: {method} {target}"}).encode()
        return recorded["status"], recorded["headers"], recorded["body"]


def serve(capture_path: Path, projects: int) -> None:
    """Serve on a free loopback port; print "ready <port>" once answering."""
    simulated: Simulated | None = None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            assert simulated is not None
            status, headers, body = simulated.answer(self.command, self.path)
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _reply

        def log_message(self, format: str, *args: Any) -> None:
            if args and str(args[1]).startswith("404"):
                sys.stderr.write(f"simulated cloud: {format % args}\n")

    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    simulated = Simulated(json.loads(capture_path.read_text()), projects, port)
    print(f"ready {port}", flush=True)
    server.serve_forever()


# -- run -----------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(args: argparse.Namespace) -> None:
    import yaml
    from sqlalchemy import insert

    from controlplane.composition import build_worker
    from controlplane.domain.regions import DEMO_CATALOGUE
    from controlplane.domain.resources import PRESETS, as_plain
    from controlplane.domain.states import ProjectState
    from controlplane.persistence.database import transaction
    from controlplane.persistence.migrate import upgrade
    from controlplane.persistence.models import Organisation, Project, ProjectMetering
    from controlplane.settings import Settings

    data = json.loads(args.capture.read_text())
    tmp = Path(tempfile.mkdtemp(prefix="sahab-bench-sim-"))
    server = subprocess.Popen(
        [sys.executable, __file__, "serve", "--capture", str(args.capture), "--projects", str(args.projects)],
        stdout=subprocess.PIPE,
        text=True,
    )
    ready = server.stdout.readline().split() if server.stdout else []
    if ready[:1] != ["ready"]:
        server.kill()
        raise SystemExit("the simulated cloud did not start")
    port = int(ready[1])
    clouds = {
        "clouds": {
            CLOUD: {
                "auth": {
                    "auth_url": f"http://127.0.0.1:{port}/p5000/v3",
                    "username": "admin",
                    "password": "secret",
                    "project_name": "admin",
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                },
                "region_name": "RegionOne",
                "identity_api_version": 3,
            }
        }
    }
    (tmp / "clouds.yaml").write_text(yaml.safe_dump(clouds))
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(tmp / "clouds.yaml")
    demo = yaml.safe_load(DEMO_CATALOGUE.read_text())
    (tmp / "catalogue.yaml").write_text(
        yaml.safe_dump({"regions": [r for r in demo["regions"] if r["id"] == "rabat-1"]})
    )
    try:
        url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        runtime = build_worker(
            Settings(
                database_url=url,
                data_dir=tmp,
                broker_url="memory://",
                demo_accounts=False,
                catalogue_path=tmp / "catalogue.yaml",
                metering_workers=args.workers,
                metering_timeout_seconds=120,
            )
        )
        runtime.prepare_database()
        collector = runtime.metering
        warm = collector.collect()  # no projects yet: authenticates and builds the connection once
        print(f"warm-up (authentication, version discovery, Placement): {warm.seconds:.2f}s")
        started = time.monotonic()
        now = datetime.now(UTC)
        long_ago = now - timedelta(days=1)
        granted = as_plain(PRESETS["small"])
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
            for chunk in range(0, args.projects, 10000):
                ids = range(chunk, min(chunk + 10000, args.projects))
                session.execute(
                    insert(Project),
                    [
                        {
                            "id": f"prj_sim{i:08d}",
                            "organisation_id": "org_bench",
                            "region_id": "rabat-1",
                            "environment": f"e{i}",
                            "state": ProjectState.ACTIVE.value,
                            "granted": granted,
                            "openstack_project_id": Simulated.project_id(i),
                            "outputs": {},
                            "created_at": long_ago,
                            "updated_at": long_ago,
                        }
                        for i in ids
                    ],
                )
                # Checked within the last hour, evenly: this collection checks the twelfth due now.
                session.execute(
                    insert(ProjectMetering),
                    [
                        {
                            "project_id": f"prj_sim{i:08d}",
                            "notified": {},
                            "quota": granted,
                            "used": None,
                            "drift": [],
                            "quota_checked_at": now - timedelta(seconds=300 * (i % 12) + 1),
                            "openstack_project_name": f"sim-{i}",
                        }
                        for i in ids
                    ],
                )
        print(
            f"loaded {args.projects} projects with SQL in {time.monotonic() - started:.1f}s "
            f"(capture of {data['captured_at'][:19]}, {len(data['exchanges'])} answers)"
        )
        for label in (f"collection {n + 1}" for n in range(args.collections)):
            server_cpu, cpu, wall = cpu_seconds(server.pid), time.process_time(), time.monotonic()
            result = collector.collect()
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            server_cpu = cpu_seconds(server.pid) - server_cpu
            print(
                f"{label}: {result.projects} projects, {result.read} read, {result.quota_checks} quota checks, "
                f"{len(result.failed)} failed, {len(result.regions_failed)} regions failed"
            )
            print(
                f"  collector: wall {wall:.1f}s, CPU {cpu:.1f}s ({1e6 * cpu / args.projects:.0f} µs per project); "
                f"simulated cloud CPU {server_cpu:.1f}s; steps: "
                + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
            )
            if result.failed:
                print("  e.g.", next(iter(result.failed.values()))[:300])
        runtime.engine.dispose()
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("capture").add_argument("--capture", type=Path, default=CAPTURE)
    serving = commands.add_parser("serve")
    serving.add_argument("--capture", type=Path, default=CAPTURE)
    serving.add_argument("--projects", type=int, required=True)
    running = commands.add_parser("run")
    running.add_argument("--capture", type=Path, default=CAPTURE)
    running.add_argument("--projects", type=int, default=100_000)
    running.add_argument("--workers", type=int, default=8)
    running.add_argument("--database-url", default=None)
    running.add_argument("--collections", type=int, default=1)
    args = parser.parse_args()
    if args.command == "capture":
        capture(args.capture)
    elif args.command == "serve":
        serve(args.capture, args.projects)
    else:
        run(args)


if __name__ == "__main__":
    main()
