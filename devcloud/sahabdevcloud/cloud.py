"""What the devcloud does through OpenStack's APIs, with Debian's openstacksdk 0.101 (imported only
here, and only when called): service registration, readiness, fixtures, Swift's rings.

Run as a separate process per step, its output in the step's log:

  python3 -m sahabdevcloud.cloud register  STATE [--region R]   service project/users/roles, services, endpoints
  python3 -m sahabdevcloud.cloud ready     STATE [--region R] [--timeout S]   wait until every service answers
  python3 -m sahabdevcloud.cloud fixtures  STATE [--region R]   flavors, image 'tiny', external network 'public'
  python3 -m sahabdevcloud.cloud swift-rings SWIFT_DIR            account/container/object rings
  python3 -m sahabdevcloud.cloud register-swift STATE         object-store endpoint, swift user, ResellerAdmin

'ready' prints 'NOTREADY <service> <reason>' (or 'DIED <service>') and exits 1/2 on failure, so the
caller can show the right log.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import processes
from .services import (
    AUTH_URL,
    CATALOGUE,
    HOST,
    REGION_ONE,
    REGIONS,
    SWIFT_PORTS,
    SWIFT_PROXY_PORT,
    Region,
    Service,
    catalogue_services,
    region_services,
)

AUTH: dict[str, Any] = dict(
    auth_url=AUTH_URL,
    username="admin",
    password="secret",
    project_name="admin",
    user_domain_name="Default",
    project_domain_name="Default",
)
FLAVORS = [("m1.tiny", 1, 64, 1), ("m1.small", 1, 512, 5), ("m1.medium", 2, 2048, 10)]
SWIFT_URL = f"http://{HOST}:{SWIFT_PROXY_PORT}/v1/AUTH_%(project_id)s"
RESELLER_ADMIN = "ResellerAdmin"
INTERFACES = ("public", "internal", "admin")


def connect(region: Region = REGION_ONE) -> Any:
    import openstack

    return openstack.connect(region_name=region.name, identity_api_version="3", interface="public", **AUTH)


def log(msg: str) -> None:
    print(msg, flush=True)


def _authorized(deadline_s: float) -> Any:
    deadline = time.time() + deadline_s
    while True:
        try:
            conn = connect()
            conn.authorize()
            return conn
        except Exception as exc:  # keystone still starting
            if time.time() > deadline:
                raise SystemExit(f"keystone not answering: {exc}") from exc
            time.sleep(1)


def _ensure_endpoints(idn: Any, service_id: str, region: str, url: str) -> None:
    have = {e.interface for e in idn.endpoints(service_id=service_id, region_id=region)}
    for iface in INTERFACES:
        if iface not in have:
            idn.create_endpoint(service_id=service_id, interface=iface, url=url, region_id=region)


def endpoint_url(service: Service) -> str:
    path = CATALOGUE[service.base][3]
    return f"http://{HOST}:{service.ports[0]}{path}"


def register(state: Path, region: Region = REGION_ONE) -> None:
    """The service project, roles admin and service, a user per service, each service and its
    endpoints in REGION (and, outside RegionOne, identity's: clients look keystone up in their region)."""
    del state
    idn = _authorized(90).identity
    try:
        idn.get_region(region.name)
    except Exception:
        idn.create_region(id=region.name)
    default = idn.find_domain("default") or idn.find_domain("Default")
    project = idn.find_project("service", domain_id=default.id)
    if not project:
        project = idn.create_project(name="service", domain_id=default.id, description="OpenStack service users")
    roles = [idn.find_role(name) or idn.create_role(name=name) for name in ("admin", "service")]
    entries = catalogue_services(region)
    for service in entries:
        uname, sname, stype, _ = CATALOGUE[service.base]
        user = idn.find_user(uname, domain_id=default.id)
        if not user:
            user = idn.create_user(name=uname, password="secret", domain_id=default.id, default_project_id=project.id)
        for role in roles:
            idn.assign_project_role_to_user(project, user, role)
        svc = None
        for s in idn.services():
            if s.type == stype and s.name == sname:
                svc = s
        if not svc:
            svc = idn.create_service(name=sname, type=stype, is_enabled=True)
        _ensure_endpoints(idn, svc.id, region.name, endpoint_url(service))
    if region != REGION_ONE:
        keystone = next(s for s in idn.services() if s.type == "identity")
        _ensure_endpoints(idn, keystone.id, region.name, AUTH_URL)
    log(f"registered {len(entries)} services in {region.name}")


def register_swift(state: Path) -> None:
    """Swift (RegionOne only): the swift service user (admin + service in project service, for
    authtoken), the object-store service and its endpoints, and the ResellerAdmin role for admin
    in project admin, the identity Sahab's region cloud uses: it may set any account's quota."""
    del state
    idn = _authorized(90).identity
    default = idn.find_domain("default") or idn.find_domain("Default")
    service_project = idn.find_project("service", domain_id=default.id)
    user = idn.find_user("swift", domain_id=default.id)
    if not user:
        user = idn.create_user(
            name="swift", password="secret", domain_id=default.id, default_project_id=service_project.id
        )
    for rname in ("admin", "service"):
        idn.assign_project_role_to_user(service_project, user, idn.find_role(rname))
    reseller = idn.find_role(RESELLER_ADMIN) or idn.create_role(name=RESELLER_ADMIN)
    admin = idn.find_user("admin", domain_id=default.id)
    idn.assign_project_role_to_user(idn.find_project("admin", domain_id=default.id), admin, reseller)
    svc = next((s for s in idn.services() if s.type == "object-store"), None) or idn.create_service(
        name="swift", type="object-store", is_enabled=True
    )
    _ensure_endpoints(idn, svc.id, REGION_ONE.name, SWIFT_URL)
    log(f"registered object-store in {REGION_ONE.name}, role {RESELLER_ADMIN} for admin")


def swift_rings(swift_dir: Path) -> None:
    """One device d1 on loopback, one replica, 2**8 partitions: the three rings (in one process,
    instead of nine swift-ring-builder runs)."""
    from swift.common.ring import RingBuilder

    for kind, port in SWIFT_PORTS.items():
        builder = RingBuilder(8, 1, 1)
        builder.add_dev({"region": 1, "zone": 1, "ip": HOST, "port": port, "device": "d1", "weight": 100})
        builder.rebalance()
        builder.save(str(swift_dir / f"{kind}.builder"))
        builder.get_ring().save(str(swift_dir / f"{kind}.ring.gz"))
    log("rings: account, container, object (1 device, 1 replica)")


# ---------------------------------------------------------------- readiness
def _proc_start_utc(run: Path, name: str) -> datetime.datetime | None:
    """UTC time at which the process in run/<name>.pid started, or None."""
    pid = processes.read_pid(run, name)
    ticks = processes.start_time(pid) if pid else None
    if ticks is None:
        return None
    with open("/proc/stat") as f:
        btime = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    return datetime.datetime.utcfromtimestamp(btime + int(ticks) / os.sysconf("SC_CLK_TCK"))


def _fresh(svc: dict[str, Any], run: Path, name: str) -> bool:
    """The service reports up with a heartbeat newer than the start of its current process."""
    if svc.get("state") != "up" or svc.get("status", "enabled") != "enabled":
        return False
    started = _proc_start_utc(run, name)
    if started is None:  # our process for it is not running
        return False
    updated = svc.get("updated_at")
    if not updated:
        return True
    at = datetime.datetime.fromisoformat(str(updated).replace("Z", "").split("+")[0])
    return at >= started - datetime.timedelta(seconds=1)


class Round:
    """One readiness round: each API answer fetched once, shared by the checks that read it."""

    def __init__(self, conn: Any, run: Path) -> None:
        self.conn = conn
        self.run = run
        self._cache: dict[str, Any] = {}

    def get(self, key: str, fetch: Callable[[], Any]) -> Any:
        if key not in self._cache:
            try:
                self._cache[key] = fetch()
            except Exception as exc:  # every check reading it fails the same way, without asking again
                self._cache[key] = exc
        found = self._cache[key]
        if isinstance(found, Exception):
            raise found
        return found

    def compute_services(self) -> dict[str, Any]:
        def fetch() -> dict[str, Any]:
            services = self.conn.compute.get("/os-services", microversion="2.53").json()["services"]
            return {s["binary"]: s for s in services}

        return dict(self.get("compute", fetch))

    def volume_services(self) -> dict[str, Any]:
        def fetch() -> dict[str, Any]:
            services = self.conn.block_storage.get("/os-services").json()["services"]
            return {s["binary"]: s for s in reversed(services)}  # the first of a binary wins

        return dict(self.get("volume", fetch))


Check = Callable[[Round, Service], str | None]  # None: ready, else the reason it is not


def _heartbeat(found: dict[str, Any], rnd: Round, service: Service) -> str | None:
    s = found.get(service.base)
    if s and _fresh(s, rnd.run, service.name):
        return None
    return "service " + (f"state={s['state']} updated_at={s['updated_at']}" if s else "not registered")


def _identity(rnd: Round, service: Service) -> str | None:
    list(rnd.conn.identity.projects())
    return None


def _image(rnd: Round, service: Service) -> str | None:
    list(rnd.conn.image.images())
    return None


def _placement(rnd: Round, service: Service) -> str | None:
    rnd.get("providers", lambda: rnd.conn.placement.get("/resource_providers").json()["resource_providers"])
    return None


def _compute_api(rnd: Round, service: Service) -> str | None:
    rnd.compute_services()
    return None


def _compute_service(rnd: Round, service: Service) -> str | None:
    return _heartbeat(rnd.compute_services(), rnd, service)


def _compute_host(rnd: Round, service: Service) -> str | None:
    """nova-compute reports, its host is mapped to cell1 (hypervisor list) and is a resource provider."""
    reason = _heartbeat(rnd.compute_services(), rnd, service)
    if reason:
        return reason
    if not rnd.conn.compute.get("/os-hypervisors").json()["hypervisors"]:
        return "no hypervisor mapped yet"
    providers = rnd.get("providers", lambda: rnd.conn.placement.get("/resource_providers").json()["resource_providers"])
    return None if providers else "no resource provider yet"


def _volume_api(rnd: Round, service: Service) -> str | None:
    rnd.volume_services()
    return None


def _volume_service(rnd: Round, service: Service) -> str | None:
    return _heartbeat(rnd.volume_services(), rnd, service)


def _network(rnd: Round, service: Service) -> str | None:
    list(rnd.conn.network.networks())
    return None if rnd.conn.network.find_extension("router") is not None else "no router extension"


def _object_store(rnd: Round, service: Service) -> str | None:
    rnd.conn.object_store.get_account_metadata()  # proxy, keystone auth, account server
    return None


CHECKS: dict[str, Check] = {
    "identity": _identity,
    "image": _image,
    "placement": _placement,
    "compute-api": _compute_api,
    "compute-service": _compute_service,
    "compute-host": _compute_host,
    "volume-api": _volume_api,
    "volume-service": _volume_service,
    "network": _network,
    "object-store": _object_store,
}
# an API that does not answer is reported as the service behind it
API_OF = {"compute-service": "nova-api", "compute-host": "nova-api", "volume-service": "cinder-api"}


def checked_services(region: Region) -> list[Service]:
    """What `ready` checks for REGION: its services with a check, and keystone (and glance) for any region."""
    shared = [s for s in region_services(REGION_ONE) if s.ready and s.base in ("keystone", "glance-api")]
    own = [s for s in region_services(region) if s.ready]
    return own if region == REGION_ONE else shared + own


def not_ready(conn: Any, run: Path, region: Region) -> list[tuple[str, str]]:
    """(service, reason) of every service not ready yet, in table order; keystone first and alone."""
    rnd = Round(conn, run)
    bad: list[tuple[str, str]] = []
    for service in checked_services(region):
        assert service.ready
        try:
            reason = CHECKS[service.ready](rnd, service)
        except Exception as exc:
            api = API_OF.get(service.ready)
            name = region.prefix + api if api else service.name
            reason = str(exc)[:200]
            if service.base == "keystone":
                return [(name, reason)]
            if (name, reason) not in bad:
                bad.append((name, reason))
            continue
        if reason:
            bad.append((service.name, reason))
    return bad


def ready(state: Path, timeout: float, region: Region = REGION_ONE) -> int:
    run = state / "run"
    deadline = time.time() + timeout
    conn = None
    last = None
    names = sorted(f.name[:-4] for f in run.iterdir() if f.name.endswith(".pid"))

    def died() -> str | None:
        return next((n for n in names if not processes.alive(processes.read_pid(run, n) or 0)), None)

    while True:
        dead = died()
        if dead:
            log(f"DIED {dead}")
            return 2
        try:
            if conn is None:
                conn = connect(region)
            bad = not_ready(conn, run, region)
            if bad and bad[0][0] == "keystone":
                conn = None  # new token next time (its catalog may have been incomplete)
        except Exception as exc:
            conn = None
            bad = [("keystone", str(exc)[:200])]
        if not bad:
            dead = died()
            if not dead:
                return 0
            log(f"DIED {dead}")
            return 2
        if bad[0] != last:
            log("  waiting for {}: {}".format(*bad[0]))
            last = bad[0]
        if time.time() > deadline:
            log("NOTREADY {} {}".format(*bad[0]))
            return 1
        time.sleep(1)


def fixtures(state: Path, region: Region = REGION_ONE) -> None:
    del state
    conn = connect(region)
    for name, vcpus, ram, disk in FLAVORS:
        if not conn.compute.find_flavor(name, ignore_missing=True):
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)
    if not conn.image.find_image("tiny", ignore_missing=True):
        img = conn.image.post(
            "/images", json=dict(name="tiny", disk_format="raw", container_format="bare", visibility="public")
        ).json()
        conn.image.put(
            "/images/{}/file".format(img["id"]),
            data=b"\0" * (1 << 20),
            headers={"Content-Type": "application/octet-stream"},
        )
    net = conn.network.find_network("public", ignore_missing=True)
    if not net:
        net = conn.network.create_network(
            name="public", is_router_external=True, provider_network_type="flat", provider_physical_network="public"
        )
    if not list(conn.network.subnets(network_id=net.id)):
        conn.network.create_subnet(
            network_id=net.id,
            name="public-subnet",
            ip_version=4,
            cidr="172.24.4.0/24",
            gateway_ip="172.24.4.1",
            is_dhcp_enabled=False,
            allocation_pools=[{"start": "172.24.4.10", "end": "172.24.4.250"}],
        )
    log("{}: flavors {}, image tiny, network public ready".format(region.name, ", ".join(f[0] for f in FLAVORS)))


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd, target = argv[0], Path(argv[1])
    region_name = argv[argv.index("--region") + 1] if "--region" in argv else REGION_ONE.name
    if region_name not in REGIONS:
        raise SystemExit(f"unknown region {region_name}")
    region = REGIONS[region_name]
    if cmd == "register":
        register(target, region)
    elif cmd == "swift-rings":
        swift_rings(target)
    elif cmd == "register-swift":
        register_swift(target)
    elif cmd == "ready":
        timeout = float(argv[argv.index("--timeout") + 1]) if "--timeout" in argv else 300
        return ready(target, timeout, region)
    elif cmd == "fixtures":
        fixtures(target, region)
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
