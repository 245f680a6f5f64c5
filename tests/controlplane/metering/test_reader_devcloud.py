"""The bulk reading against the local OpenStack: for projects holding servers, volumes, snapshots,
networks, a router, a floating IP and security groups, the usage summed from the all-project listings
and the quotas (Neutron's listed for all projects, Nova's and Cinder's per project) equal what Nova,
Cinder and Neutron count in each project's quota detail. Pages of 2 items, so every listing is
read across several pages. Everything created is deleted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from controlplane.contract import quota_fields
from controlplane.domain.regions import DEMO_CATALOGUE, load_catalogue
from controlplane.domain.resources import PRESETS, as_plain
from controlplane.metering.reader import LISTINGS, OpenStackReader, add_usage
from controlplane.ports import Usage
from tests.support.openstack import admin_connection, delete_project, project_connection

pytestmark = [pytest.mark.devcloud, pytest.mark.timeout(900)]

# openstacksdk's names for Neutron's quota fields
SDK_NETWORK = {
    "network": "networks",
    "subnet": "subnets",
    "port": "ports",
    "router": "routers",
    "floatingip": "floating_ips",
    "security_group": "security_groups",
    "security_group_rule": "security_group_rules",
}


@pytest.fixture(scope="module")
def admin() -> Iterator[Any]:
    connection = admin_connection()
    yield connection
    connection.close()


def set_quota(admin: Any, project_id: str, quota: dict[str, int]) -> None:
    admin.compute.update_quota_set(project_id, **quota_fields(quota, "compute"))
    admin.block_storage.update_quota_set(project_id, **quota_fields(quota, "block-storage"))
    admin.network.update_quota(project_id, **{SDK_NETWORK[k]: v for k, v in quota_fields(quota, "network").items()})


def fill(
    admin: Any, conn: Any, name: str, *, servers: int, volume_gib: int, snapshot: bool, router: bool, cidr: str
) -> None:
    network = conn.network.create_network(name=f"{name}-net")
    subnet = conn.network.create_subnet(network_id=network.id, ip_version=4, cidr=cidr, name=f"{name}-subnet")
    group = conn.network.create_security_group(name=f"{name}-sg")
    conn.network.create_security_group_rule(
        security_group_id=group.id,
        direction="ingress",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        ethertype="IPv4",
    )
    flavors = [admin.compute.find_flavor(f, ignore_missing=False) for f in ("m1.tiny", "m1.small")]
    image = admin.image.find_image("tiny", ignore_missing=False)
    made = [
        conn.compute.create_server(
            name=f"{name}-vm{i}", flavor_id=flavors[i % 2].id, image_id=image.id, networks=[{"uuid": network.id}]
        )
        for i in range(servers)
    ]
    for server in made:
        conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], wait=180)
    if volume_gib:
        volume = conn.block_storage.create_volume(name=f"{name}-vol", size=volume_gib)
        conn.block_storage.wait_for_status(volume, status="available", failures=["error"], wait=120)
        if snapshot:
            snap = conn.block_storage.create_snapshot(volume_id=volume.id, name=f"{name}-snap")
            conn.block_storage.wait_for_status(snap, status="available", failures=["error"], wait=120)
    if router:
        public = admin.network.find_network("public", ignore_missing=False)
        gateway = conn.network.create_router(name=f"{name}-router", external_gateway_info={"network_id": public.id})
        conn.network.add_interface_to_router(gateway, subnet_id=subnet.id)
        conn.network.create_ip(floating_network_id=public.id)


def bulk(reader: OpenStackReader) -> Usage:
    total: Usage = {}
    for listing in LISTINGS:
        for project_id, amounts in reader.read_usage(listing.name).items():
            add_usage(total, project_id, amounts)
    return total


def test_bulk_listings_equal_each_projects_quota_detail(admin):
    tag = uuid.uuid4().hex[:8]
    region = load_catalogue(DEMO_CATALOGUE).get("rabat-1")
    projects: list[Any] = []
    connections: list[Any] = []
    reader = OpenStackReader(region, timeout=60, page_size=2)
    try:
        user = admin.identity.find_user("admin", domain_id="default", ignore_missing=False)
        role = admin.identity.find_role("admin", ignore_missing=False)
        for i in range(3):
            project = admin.identity.create_project(
                name=f"sahab-bulkmeter-{tag}-{i}", domain_id="default", description="sahab bulk metering test"
            )
            projects.append(project)
            admin.identity.assign_project_role_to_user(project, user, role)
            connections.append(project_connection(project.id))
        # Project 0 and 1 have quotas of their own (as Sahab sets them); project 2 keeps the defaults.
        set_quota(admin, projects[0].id, as_plain(PRESETS["small"]))
        set_quota(admin, projects[1].id, {**as_plain(PRESETS["medium"]), "ports": 17})
        fill(
            admin,
            connections[0],
            projects[0].name,
            servers=2,
            volume_gib=2,
            snapshot=True,
            router=True,
            cidr="10.91.0.0/24",
        )
        fill(
            admin,
            connections[1],
            projects[1].name,
            servers=1,
            volume_gib=3,
            snapshot=False,
            router=False,
            cidr="10.92.0.0/24",
        )

        usage = bulk(reader)
        network_quotas = reader.read_bulk_quotas()
        names = reader.projects(region.domain_id)
        for project in projects:
            detail = reader.read_project_detail(project.id)
            used = {name: usage.get(project.id, {}).get(name, 0) for name in detail.used}
            assert used == detail.used, project.name
            assert {**reader.read_quota(project.id), **network_quotas.of(project.id)} == detail.quota, project.name
            assert names[project.id] == project.name
        first = usage[projects[0].id]
        assert (first["instances"], first["snapshots"], first["routers"], first["floating_ips"]) == (2, 1, 1, 1)
        assert first["volume_gib"] == 4  # the volume and its snapshot
        assert projects[2].id not in network_quotas.by_project
    finally:
        reader.close()
        errors = []
        for connection in connections:
            connection.close()
        for project in projects:
            errors += delete_project(admin, project.id)
        assert not errors, errors
