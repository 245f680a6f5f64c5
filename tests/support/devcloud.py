"""The local OpenStack (devcloud/sahab-devcloud): where its clouds.yaml is, project-scoped
connections, and the clean-up of what a test created in a project."""

from __future__ import annotations

import os
from pathlib import Path

from devcloud.sahabdevcloud.services import default_state


def state_dir() -> Path:
    """Where the devcloud keeps its state: its own rule (SAHAB_DEVCLOUD_STATE, else the XDG state dir)."""
    return default_state()


def clouds_yaml() -> Path:
    if os.environ.get("OS_CLIENT_CONFIG_FILE"):
        return Path(os.environ["OS_CLIENT_CONFIG_FILE"])
    return state_dir() / "clouds.yaml"


def project_connection(cloud, project_id):
    """Connection as admin scoped to another project.  (Connection.connect_as_project would
    re-read the cloud named by OS_CLOUD, which `sahab-devcloud env` sets, and then reject
    RegionTwo.)"""
    import openstack

    return openstack.connect(
        cloud=cloud, project_id=project_id, project_name="", project_domain_name="", api_timeout=30
    )


def cleanup_project(admin, proj, pconn):
    """Delete everything a test created in project ``proj`` and the project itself."""
    errors = []

    def attempt(fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # keep cleaning up, report at the end
            errors.append(f"{getattr(fn, '__name__', fn)}{args}: {exc}")

    for server in admin.compute.servers(all_projects=True, project_id=proj.id):
        attempt(admin.compute.delete_server, server, force=False)
    for server in list(admin.compute.servers(all_projects=True, project_id=proj.id)):
        attempt(admin.compute.wait_for_delete, server, wait=60)
    for vol in admin.block_storage.volumes(all_projects=True, project_id=proj.id):

        def delete_volume(vol=vol):
            admin.block_storage.wait_for_status(vol, status="available", failures=["error"], wait=60)
            admin.block_storage.delete_volume(vol)
            admin.block_storage.wait_for_delete(vol, wait=60)

        attempt(delete_volume)
    net = admin.network
    for fip in net.ips(project_id=proj.id):
        attempt(net.delete_ip, fip)
    for router in net.routers(project_id=proj.id):
        for port in net.ports(device_id=router.id, device_owner="network:router_interface"):
            attempt(net.remove_interface_from_router, router, port=port.id)
        attempt(net.delete_router, router)
    for port in net.ports(project_id=proj.id):
        if port.device_owner in ("", None) or port.device_owner.startswith("compute:"):
            attempt(net.delete_port, port)
    for subnet in net.subnets(project_id=proj.id):
        attempt(net.delete_subnet, subnet)
    for network in net.networks(project_id=proj.id):
        attempt(net.delete_network, network)
    for sg in net.security_groups(project_id=proj.id):
        attempt(net.delete_security_group, sg)
    attempt(admin.compute.revert_quota_set, proj.id)
    attempt(admin.block_storage.revert_quota_set, proj.id)
    attempt(net.delete_quota, proj.id)
    if pconn is not None:
        attempt(pconn.close)
    attempt(admin.identity.delete_project, proj)
    return errors
