"""Integration tests against the local OpenStack (devcloud/sahab-devcloud up).

They exercise exactly what Sahab relies on: every quota field it manages can be set and read
back, usage follows real resources (server on the fake driver, volume, network objects),
Nova refuses over-quota requests with HTTP 403, and the cloud listens on loopback only.
"""

import ipaddress
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from openstack import exceptions

from devcloud.sahabdevcloud.processes import descendants, read_pid
from devcloud.sahabdevcloud.services import REGION_ONE, all_ports, region_services

pytestmark = pytest.mark.devcloud

# TCP ports of the devcloud, RegionTwo's included; those RegionOne's services answer on (all but
# epmd's and RabbitMQ's distribution port)
DEVCLOUD_PORTS = all_ports(with_region_two=True)
API_PORTS = {s.ports[0] for s in region_services(REGION_ONE) if s.ports and s.base != "epmd"}

NOVA_FIELDS = {"cores": 7, "ram": 3072, "instances": 5}
CINDER_FIELDS = {"gigabytes": 23, "volumes": 6, "snapshots": 4}
# SDK attribute -> neutron API field
NEUTRON_FIELDS = {
    "networks": ("network", 4),
    "subnets": ("subnet", 5),
    "ports": ("port", 21),
    "routers": ("router", 3),
    "floating_ips": ("floatingip", 2),
    "security_groups": ("security_group", 6),
    "security_group_rules": ("security_group_rule", 40),
}


def wait_for(what, predicate, timeout=60.0, interval=0.5):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def unique(prefix):
    return f"sahab-dc-{prefix}-{uuid.uuid4().hex[:8]}"


def test_quota_fields_roundtrip(admin, project):
    proj, _ = project
    admin.compute.update_quota_set(proj.id, **NOVA_FIELDS)
    admin.block_storage.update_quota_set(proj.id, **CINDER_FIELDS)
    admin.network.update_quota(proj.id, **{k: v for k, (_, v) in NEUTRON_FIELDS.items()})

    nova = admin.compute.get_quota_set(proj.id)
    assert {k: getattr(nova, k) for k in NOVA_FIELDS} == NOVA_FIELDS
    cinder = admin.block_storage.get_quota_set(proj.id)
    assert {k: getattr(cinder, k) for k in CINDER_FIELDS} == CINDER_FIELDS
    neutron = admin.network.get_quota(proj.id)
    assert {k: getattr(neutron, k) for k in NEUTRON_FIELDS} == {k: v for k, (_, v) in NEUTRON_FIELDS.items()}

    # and raw API field names, as Sahab's drivers see them
    body = admin.network.get(f"/quotas/{proj.id}").json()["quota"]
    assert {f: body[f] for f, _ in NEUTRON_FIELDS.values()} == {f: v for f, v in NEUTRON_FIELDS.values()}

    # the detail (usage) views carry the same limits, with nothing used yet
    nova_u = admin.compute.get_quota_set(proj.id, usage=True)
    assert nova_u.cores == 7 and nova_u.usage["cores"] == 0 and nova_u.usage["instances"] == 0
    cinder_u = admin.block_storage.get_quota_set(proj.id, usage=True)
    assert cinder_u.gigabytes == 23 and cinder_u.usage["gigabytes"] == 0
    neutron_u = admin.network.get_quota(proj.id, details=True)
    assert neutron_u.ports["limit"] == 21 and neutron_u.ports["used"] == 0


def test_usage_follows_resources_and_nova_refuses_over_quota(admin, project):
    proj, conn = project
    admin.compute.update_quota_set(proj.id, cores=2, ram=4096, instances=5)
    admin.block_storage.update_quota_set(proj.id, gigabytes=10, volumes=3, snapshots=3)
    admin.network.update_quota(
        proj.id, networks=3, subnets=3, ports=10, routers=2, floating_ips=2, security_groups=5, security_group_rules=30
    )

    tiny = admin.compute.find_flavor("m1.tiny", ignore_missing=False)
    medium = admin.compute.find_flavor("m1.medium", ignore_missing=False)
    image = admin.image.find_image("tiny", ignore_missing=False)
    public = admin.network.find_network("public", ignore_missing=False)

    # tenant network, router to 'public', floating IP
    net = conn.network.create_network(name=unique("net"))
    subnet = conn.network.create_subnet(network_id=net.id, name=unique("subnet"), ip_version=4, cidr="10.77.0.0/24")
    router = conn.network.create_router(name=unique("router"), external_gateway_info={"network_id": public.id})
    conn.network.add_interface_to_router(router, subnet=subnet.id)
    fip = conn.network.create_ip(floating_network_id=public.id)
    assert ipaddress.ip_address(fip.floating_ip_address) in ipaddress.ip_network("172.24.4.0/24")

    # server on the fake driver, with a NIC on the tenant network
    server = conn.compute.create_server(
        name=unique("vm"), flavor_id=tiny.id, image_id=image.id, networks=[{"uuid": net.id}]
    )
    server = conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], wait=120)
    port = next(iter(conn.network.ports(device_id=server.id)))
    assert port.binding_vif_type == "ovs" and port.status == "ACTIVE"

    # volume, attached to the server
    volume = conn.block_storage.create_volume(name=unique("vol"), size=2)
    volume = conn.block_storage.wait_for_status(volume, status="available", failures=["error"], wait=60)
    conn.compute.create_volume_attachment(server, volume=volume.id)
    conn.block_storage.wait_for_status(volume, status="in-use", failures=["error"], wait=60)

    nova = admin.compute.get_quota_set(proj.id, usage=True)
    assert (nova.usage["cores"], nova.usage["ram"], nova.usage["instances"]) == (1, 64, 1)
    cinder = admin.block_storage.get_quota_set(proj.id, usage=True)
    assert (cinder.usage["gigabytes"], cinder.usage["volumes"]) == (2, 1)
    neutron = admin.network.get_quota(proj.id, details=True)
    assert neutron.networks["used"] == 1 and neutron.subnets["used"] == 1
    assert neutron.routers["used"] == 1 and neutron.floating_ips["used"] == 1
    assert neutron.ports["used"] >= 2  # server NIC + router interface
    assert neutron.security_groups["used"] == 1  # the project's 'default' group

    # one more server would need 2 more cores: 1 used + 2 > 2
    with pytest.raises(exceptions.HttpException) as refused:
        conn.compute.create_server(
            name=unique("too-big"), flavor_id=medium.id, image_id=image.id, networks=[{"uuid": net.id}]
        )
    assert refused.value.status_code == 403
    assert "cores" in str(refused.value).lower()

    # deleting the server gives the cores back
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=60)
    wait_for(
        "nova cores usage back to 0",
        lambda: admin.compute.get_quota_set(proj.id, usage=True).usage["cores"] == 0,
        timeout=30,
    )
    conn.block_storage.wait_for_status(volume, status="available", failures=["error"], wait=60)


def _devcloud_pids(run):
    """PIDs in $STATE/run/*.pid and all their descendants."""
    roots = {pid for f in run.glob("*.pid") if (pid := read_pid(run, f.stem))}
    return descendants(roots)


def _listening_sockets():
    """(address, port, inode) of every TCP listener, from /proc/net/tcp and tcp6."""
    out = []
    for name, width in (("tcp", 4), ("tcp6", 16)):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            hexaddr, hexport = fields[1].split(":")
            raw = bytes.fromhex(hexaddr)
            # /proc stores each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
            out.append((ipaddress.ip_address(raw), int(hexport, 16), int(fields[9])))
    return out


def _inodes_of(pids):
    inodes = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                m = re.match(r"socket:\[(\d+)\]", os.readlink(fd))
                if m:
                    inodes[int(m.group(1))] = pid
        except OSError:
            pass
    return inodes


def test_listeners_are_loopback_only(admin, devcloud_state):
    pids = _devcloud_pids(devcloud_state / "run")
    assert pids, f"no devcloud PIDs found under {devcloud_state / 'run'}"
    owned = _inodes_of(pids)
    ours = [
        (addr, port, owned.get(inode))
        for addr, port, inode in _listening_sockets()
        if inode in owned or port in DEVCLOUD_PORTS
    ]
    seen = {port for _, port, _ in ours}
    assert API_PORTS <= seen, f"devcloud ports not listening: {sorted(API_PORTS - seen)}"
    exposed = [(str(a), p, pid) for a, p, pid in ours if not a.is_loopback]
    if exposed:
        ss = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
        pytest.fail(f"devcloud listeners not on loopback (addr, port, pid): {exposed}\n{ss}")


def test_region_two_quotas_and_usage_are_independent(admin, project, clouds_yaml_path, connect_project):
    """Optional RegionTwo (SAHAB_DEVCLOUD_REGIONS=2): same keystone project, separate quotas
    and usage per region, as Sahab's region catalogue expects."""
    import openstack
    import yaml

    clouds = yaml.safe_load(clouds_yaml_path.read_text())["clouds"]
    if "sahab-devcloud-regiontwo" not in clouds:
        # The demo catalogue's casablanca-1 lives there, so ./dev always starts it: missing is a failure.
        pytest.fail("RegionTwo not enabled: SAHAB_DEVCLOUD_REGIONS=2 devcloud/sahab-devcloud up")
    proj, _ = project
    r2 = openstack.connect(cloud="sahab-devcloud-regiontwo", api_timeout=30)
    conn = connect_project("sahab-devcloud-regiontwo", proj.id)
    server = volume = net = None
    try:
        admin.compute.update_quota_set(proj.id, cores=9, ram=9000, instances=9)
        r2.compute.update_quota_set(proj.id, cores=3, ram=3000, instances=3)
        r2.block_storage.update_quota_set(proj.id, gigabytes=13, volumes=3, snapshots=3)
        r2.network.update_quota(proj.id, networks=2, ports=7)
        assert admin.compute.get_quota_set(proj.id).cores == 9
        assert r2.compute.get_quota_set(proj.id).cores == 3
        assert admin.block_storage.get_quota_set(proj.id).gigabytes != 13
        assert r2.network.get_quota(proj.id).ports == 7

        net = conn.network.create_network(name=unique("r2net"))
        conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.78.0.0/24")
        tiny = r2.compute.find_flavor("m1.tiny", ignore_missing=False)
        image = r2.image.find_image("tiny", ignore_missing=False)
        server = conn.compute.create_server(
            name=unique("r2vm"), flavor_id=tiny.id, image_id=image.id, networks=[{"uuid": net.id}]
        )
        server = conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], wait=120)
        volume = conn.block_storage.create_volume(name=unique("r2vol"), size=1)
        conn.block_storage.wait_for_status(volume, status="available", failures=["error"], wait=60)

        assert r2.compute.get_quota_set(proj.id, usage=True).usage["cores"] == 1
        assert admin.compute.get_quota_set(proj.id, usage=True).usage["cores"] == 0
        assert r2.block_storage.get_quota_set(proj.id, usage=True).usage["volumes"] == 1
        assert admin.block_storage.get_quota_set(proj.id, usage=True).usage["volumes"] == 0
        assert r2.network.get_quota(proj.id, details=True).networks["used"] == 1
        assert admin.network.get_quota(proj.id, details=True).networks["used"] == 0
    finally:
        if server is not None:
            conn.compute.delete_server(server)
            conn.compute.wait_for_delete(server, wait=60)
        if volume is not None:
            conn.block_storage.delete_volume(volume)
            conn.block_storage.wait_for_delete(volume, wait=60)
        if net is not None:
            for port in conn.network.ports(network_id=net.id):
                if port.device_owner.startswith("compute:"):
                    conn.network.delete_port(port)
            conn.network.delete_network(net)  # deletes its subnet too
        for sg in r2.network.security_groups(project_id=proj.id):
            r2.network.delete_security_group(sg)
        r2.compute.revert_quota_set(proj.id)
        r2.block_storage.revert_quota_set(proj.id)
        r2.network.delete_quota(proj.id)
        conn.close()
        r2.close()
