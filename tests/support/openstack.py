"""The local OpenStack for tests that read it directly: an admin connection, projects made for one
test, and their removal with everything in them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CLOUD = "sahab-devcloud"


def admin_connection() -> Any:
    """Admin on the devcloud (clouds.yaml from OS_CLIENT_CONFIG_FILE); fails, never skips."""
    import openstack

    path = os.environ.get("OS_CLIENT_CONFIG_FILE", "")
    if not path or not Path(path).is_file():
        pytest.fail(
            f"the local OpenStack is not configured (OS_CLIENT_CONFIG_FILE={path!r}): run "
            '`devcloud/sahab-devcloud up` and `eval "$(devcloud/sahab-devcloud env)"`',
            pytrace=False,
        )
    connection = openstack.connect(cloud=CLOUD, api_timeout=60)
    connection.authorize()
    return connection


def project_connection(project_id: str) -> Any:
    """Admin scoped to another project (the admin user must have a role there)."""
    import openstack

    return openstack.connect(
        cloud=CLOUD, project_id=project_id, project_name="", project_domain_name="", api_timeout=60
    )


def delete_project(admin: Any, project_id: str) -> list[str]:
    """Delete a project and everything in it; returns what could not be deleted."""
    errors: list[str] = []

    def attempt(fn: Any, *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # keep cleaning up, report at the end
            errors.append(f"{getattr(fn, '__name__', fn)}{args}: {exc}")

    compute, storage, net = admin.compute, admin.block_storage, admin.network
    servers = list(compute.servers(all_projects=True, project_id=project_id))
    for server in servers:
        attempt(compute.delete_server, server)
    for server in servers:
        attempt(compute.wait_for_delete, server, wait=120)
    for snapshot in list(storage.snapshots(all_projects=True, project_id=project_id)):
        attempt(storage.delete_snapshot, snapshot)
        attempt(storage.wait_for_delete, snapshot, wait=60)
    for volume in list(storage.volumes(all_projects=True, project_id=project_id)):
        attempt(storage.wait_for_status, volume, status="available", failures=["error"], wait=60)
        attempt(storage.delete_volume, volume)
        attempt(storage.wait_for_delete, volume, wait=60)
    for ip in list(net.ips(project_id=project_id)):
        attempt(net.delete_ip, ip)
    for router in list(net.routers(project_id=project_id)):
        for port in net.ports(device_id=router.id, device_owner="network:router_interface"):
            attempt(net.remove_interface_from_router, router, port_id=port.id)
        attempt(net.delete_router, router)
    for port in list(net.ports(project_id=project_id)):
        if not port.device_owner or port.device_owner.startswith("compute:"):
            attempt(net.delete_port, port)
    for subnet in list(net.subnets(project_id=project_id)):
        attempt(net.delete_subnet, subnet)
    for network in list(net.networks(project_id=project_id)):
        attempt(net.delete_network, network)
    for group in list(net.security_groups(project_id=project_id)):
        attempt(net.delete_security_group, group)
    attempt(compute.revert_quota_set, project_id)
    attempt(storage.revert_quota_set, project_id)
    attempt(net.delete_quota, project_id)
    attempt(admin.identity.delete_project, project_id)
    return errors
