#!/usr/bin/python3
"""Helpers for sahab-devcloud, run with Debian's /usr/bin/python3 (openstacksdk 0.101).

  devcloud_helper.py register  STATE [--region R]   service project/users/roles, services, endpoints
  devcloud_helper.py ready     STATE [--region R] [--timeout S]   wait until every service answers
  devcloud_helper.py fixtures  STATE [--region R]   flavors, image 'tiny', external network 'public'
  devcloud_helper.py swift-rings SWIFT_DIR            account/container/object rings
  devcloud_helper.py register-swift STATE         object-store endpoint, swift user, ResellerAdmin

RegionTwo (optional) has its own placement/nova/cinder/neutron on ports +10000 and service
names prefixed 'r2-' in $STATE/run; keystone and glance are shared.

'ready' prints 'NOTREADY <service> <reason>' (or 'DIED <service>') and exits 1/2 on
failure so the shell script can show the right log.
"""

import datetime
import os
import sys
import time

AUTH = dict(
    auth_url="http://127.0.0.1:5000/v3",
    username="admin",
    password="secret",
    project_name="admin",
    user_domain_name="Default",
    project_domain_name="Default",
)
REGION = "RegionOne"
HOST = "127.0.0.1"
SERVICES = [
    # user, service name, type, url (RegionTwo: port + 10000, except the shared glance)
    ("glance", "glance", "image", "http://%s:9292" % HOST),
    ("placement", "placement", "placement", "http://%s:{8778}" % HOST),
    ("nova", "nova", "compute", "http://%s:{8774}/v2.1" % HOST),
    ("cinder", "cinderv3", "volumev3", "http://%s:{8776}/v3/%%(project_id)s" % HOST),
    ("neutron", "neutron", "network", "http://%s:{9696}" % HOST),
]
PREFIX = {"RegionOne": "", "RegionTwo": "r2-"}


def endpoint_url(url, region):
    off = 0 if region == "RegionOne" else 10000
    for port in ("8778", "8774", "8776", "9696"):
        url = url.replace("{%s}" % port, str(int(port) + off))
    return url


FLAVORS = [("m1.tiny", 1, 64, 1), ("m1.small", 1, 512, 5), ("m1.medium", 2, 2048, 10)]


def connect(region=REGION):
    import openstack

    return openstack.connect(region_name=region, identity_api_version="3", interface="public", **AUTH)


def log(msg):
    print(msg, flush=True)


def register(state, region=REGION):
    conn = None
    deadline = time.time() + 90
    while True:
        try:
            conn = connect()
            conn.authorize()
            break
        except Exception as exc:  # keystone still starting
            if time.time() > deadline:
                raise SystemExit("keystone not answering: %s" % exc) from exc
            time.sleep(1)
    idn = conn.identity
    try:
        idn.get_region(region)
    except Exception:
        idn.create_region(id=region)
    default = idn.find_domain("default") or idn.find_domain("Default")
    project = idn.find_project("service", domain_id=default.id)
    if not project:
        project = idn.create_project(name="service", domain_id=default.id, description="OpenStack service users")
    roles = {}
    for rname in ("admin", "service"):
        role = idn.find_role(rname)
        if not role:
            role = idn.create_role(name=rname)
        roles[rname] = role
    for uname, sname, stype, url in SERVICES:
        user = idn.find_user(uname, domain_id=default.id)
        if not user:
            user = idn.create_user(name=uname, password="secret", domain_id=default.id, default_project_id=project.id)
        for role in roles.values():
            idn.assign_project_role_to_user(project, user, role)
        svc = None
        for s in idn.services():
            if s.type == stype and s.name == sname:
                svc = s
        if not svc:
            svc = idn.create_service(name=sname, type=stype, is_enabled=True)
        have = {e.interface for e in idn.endpoints(service_id=svc.id, region_id=region)}
        for iface in ("public", "internal", "admin"):
            if iface not in have:
                idn.create_endpoint(service_id=svc.id, interface=iface, url=endpoint_url(url, region), region_id=region)
    if region != REGION:  # clients look the identity endpoint up in their own region too
        ks = next(s for s in idn.services() if s.type == "identity")
        have = {e.interface for e in idn.endpoints(service_id=ks.id, region_id=region)}
        for iface in ("public", "internal", "admin"):
            if iface not in have:
                idn.create_endpoint(service_id=ks.id, interface=iface, region_id=region, url="http://%s:5000/v3" % HOST)
    log("registered %d services in %s" % (len(SERVICES), region))


SWIFT_URL = "http://%s:8890/v1/AUTH_%%(project_id)s" % HOST
RESELLER_ADMIN = "ResellerAdmin"


def register_swift(state):
    """Swift (RegionOne only): the swift service user (admin + service in project service, for
    authtoken), the object-store service and its endpoints, and the ResellerAdmin role for admin
    in project admin, the identity Sahab's region cloud uses: it may set any account's quota."""
    conn = connect()
    for _ in range(90):
        try:
            conn.authorize()
            break
        except Exception:  # keystone still starting
            time.sleep(1)
            conn = connect()
    idn = conn.identity
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
    have = {e.interface for e in idn.endpoints(service_id=svc.id, region_id=REGION)}
    for iface in ("public", "internal", "admin"):
        if iface not in have:
            idn.create_endpoint(service_id=svc.id, interface=iface, url=SWIFT_URL, region_id=REGION)
    log("registered object-store in %s, role %s for admin" % (REGION, RESELLER_ADMIN))


SWIFT_RING_PORTS = {"account": 6202, "container": 6201, "object": 6200}


def swift_rings(swift_dir):
    """One device d1 on loopback, one replica, 2**8 partitions: the three rings (in one process,
    instead of nine swift-ring-builder runs)."""
    from swift.common.ring import RingBuilder

    for kind, port in SWIFT_RING_PORTS.items():
        builder = RingBuilder(8, 1, 1)
        builder.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": port, "device": "d1", "weight": 100})
        builder.rebalance()
        builder.save(os.path.join(swift_dir, kind + ".builder"))
        builder.get_ring().save(os.path.join(swift_dir, kind + ".ring.gz"))
    log("rings: account, container, object (1 device, 1 replica)")


def _proc_start_utc(state, name):
    """UTC datetime at which the process in $STATE/run/<name>.pid started, or None."""
    try:
        pid = int(open(os.path.join(state, "run", name + ".pid")).read().split()[0])
        stat = open("/proc/%d/stat" % pid).read()
    except (OSError, ValueError, IndexError):
        return None
    start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
    btime = next(int(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime"))
    return datetime.datetime.utcfromtimestamp(btime + start_ticks / os.sysconf("SC_CLK_TCK"))


def _alive(state, name):
    try:
        pid = int(open(os.path.join(state, "run", name + ".pid")).read().split()[0])
        os.kill(pid, 0)
        st = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0]
        return st != "Z"
    except (OSError, ValueError, IndexError):
        return False


def _fresh(svc, state, name):
    """The service's heartbeat is newer than the start of its current process."""
    if svc.get("state") != "up" or svc.get("status", "enabled") != "enabled":
        return False
    started = _proc_start_utc(state, name)
    updated = svc.get("updated_at")
    if started is None:  # our process for it is not running
        return False
    if not updated:
        return True
    updated = datetime.datetime.fromisoformat(str(updated).replace("Z", "").split("+")[0])
    return updated >= started - datetime.timedelta(seconds=1)


def _checks(conn, state, pre=""):
    """Yield (service, ok, reason) in dependency order ('pre' = run/ name prefix of the region)."""
    try:
        list(conn.identity.projects())
    except Exception as exc:
        yield "keystone", False, str(exc)[:200]
        return
    yield "keystone", True, ""
    try:
        list(conn.image.images())
        yield "glance-api", True, ""
    except Exception as exc:
        yield "glance-api", False, str(exc)[:200]
    try:
        rps = conn.placement.get("/resource_providers").json()["resource_providers"]
        yield pre + "placement", True, ""
    except Exception as exc:
        rps = None
        yield pre + "placement", False, str(exc)[:200]
    try:
        svcs = conn.compute.get("/os-services", microversion="2.53").json()["services"]
        by_bin = {s["binary"]: s for s in svcs}
        for binary in ("nova-conductor", "nova-scheduler", "nova-compute"):
            s = by_bin.get(binary)
            yield (
                pre + binary,
                bool(s) and _fresh(s, state, pre + binary),
                "service %s" % (("state=%s updated_at=%s" % (s["state"], s["updated_at"])) if s else "not registered"),
            )
        hyps = conn.compute.get("/os-hypervisors").json()["hypervisors"]
        yield pre + "nova-compute", bool(hyps), "no hypervisor mapped yet"
        yield pre + "placement", rps is None or len(rps) >= 1, "no resource provider yet"
    except Exception as exc:
        yield pre + "nova-api", False, str(exc)[:200]
    try:
        svcs = conn.block_storage.get("/os-services").json()["services"]
        for binary in ("cinder-scheduler", "cinder-volume"):
            s = [x for x in svcs if x["binary"] == binary]
            yield (
                pre + binary,
                bool(s) and _fresh(s[0], state, pre + binary),
                "service %s"
                % (("state=%s updated_at=%s" % (s[0]["state"], s[0]["updated_at"])) if s else "not registered"),
            )
    except Exception as exc:
        yield pre + "cinder-api", False, str(exc)[:200]
    if not pre:  # Swift runs in RegionOne only
        try:
            conn.object_store.get_account_metadata()  # proxy, keystone auth, account server
            yield "swift-proxy", True, ""
        except Exception as exc:
            yield "swift-proxy", False, str(exc)[:200]
    try:
        list(conn.network.networks())
        yield pre + "neutron-server", conn.network.find_extension("router") is not None, "no router extension"
    except Exception as exc:
        yield pre + "neutron-server", False, str(exc)[:200]


def ready(state, timeout, region=REGION):
    deadline = time.time() + timeout
    conn = None
    last = None
    pids = sorted(f[:-4] for f in os.listdir(os.path.join(state, "run")) if f.endswith(".pid"))
    while True:
        dead = [n for n in pids if not _alive(state, n)]
        if dead:
            log("DIED %s" % dead[0])
            return 2
        try:
            if conn is None:
                conn = connect(region)
            bad = [(n, r) for n, ok, r in _checks(conn, state, PREFIX[region]) if not ok]
            if bad and bad[0][0] == "keystone":
                conn = None  # new token next time (its catalog may have been incomplete)
        except Exception as exc:
            conn = None
            bad = [("keystone", str(exc)[:200])]
        if not bad:
            dead = [n for n in pids if not _alive(state, n)]
            if not dead:
                return 0
            log("DIED %s" % dead[0])
            return 2
        if bad[0] != last:
            log("  waiting for %s: %s" % bad[0])
            last = bad[0]
        if time.time() > deadline:
            log("NOTREADY %s %s" % bad[0])
            return 1
        time.sleep(1)


def fixtures(state, region=REGION):
    conn = connect(region)
    for name, vcpus, ram, disk in FLAVORS:
        if not conn.compute.find_flavor(name, ignore_missing=True):
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)
    if not conn.image.find_image("tiny", ignore_missing=True):
        img = conn.image.post(
            "/images", json=dict(name="tiny", disk_format="raw", container_format="bare", visibility="public")
        ).json()
        conn.image.put(
            "/images/%s/file" % img["id"], data=b"\0" * (1 << 20), headers={"Content-Type": "application/octet-stream"}
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
    log("%s: flavors %s, image tiny, network public ready" % (region, ", ".join(f[0] for f in FLAVORS)))


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    cmd, state = argv[1], argv[2]
    region = argv[argv.index("--region") + 1] if "--region" in argv else REGION
    if region not in PREFIX:
        raise SystemExit("unknown region %s" % region)
    if cmd == "register":
        register(state, region)
        return 0
    if cmd == "swift-rings":
        swift_rings(state)
        return 0
    if cmd == "register-swift":
        register_swift(state)
        return 0
    if cmd == "ready":
        timeout = float(argv[argv.index("--timeout") + 1]) if "--timeout" in argv else 300
        return ready(state, timeout, region)
    if cmd == "fixtures":
        fixtures(state, region)
        return 0
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
