"""Fixtures for the integration tests against the local OpenStack (devcloud/sahab-devcloud).

The cloud is found through OS_CLIENT_CONFIG_FILE (cloud name ``sahab-devcloud``); when that
is not set, the devcloud's default clouds.yaml is used.  If the cloud does not answer the
tests FAIL (they never skip): start it with ``devcloud/sahab-devcloud up``.
"""

import os
import uuid
from pathlib import Path

import pytest

from devcloud.sahabdevcloud.services import default_state

CLOUD_NAME = "sahab-devcloud"
HINT = 'run `devcloud/sahab-devcloud up` (then `eval "$(devcloud/sahab-devcloud env)"`)'


def pytest_configure(config):
    config.addinivalue_line("markers", "devcloud: needs the local OpenStack (devcloud/sahab-devcloud up)")


def state_dir() -> Path:
    return default_state()


def clouds_yaml() -> Path:
    if os.environ.get("OS_CLIENT_CONFIG_FILE"):
        return Path(os.environ["OS_CLIENT_CONFIG_FILE"])
    return state_dir() / "clouds.yaml"


@pytest.fixture(scope="session")
def admin():
    """Admin connection (project admin) to the running devcloud; fails loudly if unreachable."""
    import openstack

    path = clouds_yaml()
    if not path.is_file():
        pytest.fail(f"devcloud is not set up: {path} does not exist; {HINT}", pytrace=False)
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(path)
    try:
        conn = openstack.connect(cloud=CLOUD_NAME, api_timeout=30)
        conn.authorize()
        # every service the tests use must answer
        list(conn.compute.flavors())
        conn.block_storage.get("/os-services").raise_for_status()
        list(conn.network.networks(name="public"))
        list(conn.image.images(limit=1))
    except Exception as exc:  # connection refused, 503, ...
        pytest.fail(f"devcloud ({CLOUD_NAME} via {path}) is not reachable: {exc}; {HINT}", pytrace=False)
    yield conn
    conn.close()


def project_connection(cloud, project_id):
    """Connection as admin scoped to another project.  (Connection.connect_as_project would
    re-read the cloud named by OS_CLOUD, which `sahab-devcloud env` sets, and then reject
    RegionTwo.)"""
    import openstack

    return openstack.connect(
        cloud=cloud, project_id=project_id, project_name="", project_domain_name="", api_timeout=30
    )


@pytest.fixture(scope="session")
def connect_project(admin):
    """connect_project(cloud_name, project_id) -> project-scoped admin connection."""
    return project_connection


@pytest.fixture(scope="session")
def clouds_yaml_path(admin) -> Path:
    """The clouds.yaml in use (after the admin fixture has checked the cloud answers)."""
    return clouds_yaml()


@pytest.fixture(scope="session")
def devcloud_state() -> Path:
    """The devcloud's state directory (pid files under run/)."""
    return state_dir()


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


@pytest.fixture
def project(admin):
    """A fresh project (unique name) where admin has the admin role, plus a connection scoped
    to it; everything in it is deleted afterwards."""
    name = f"sahab-devcloud-test-{uuid.uuid4().hex[:10]}"
    proj = admin.identity.create_project(name=name, domain_id="default", description="sahab devcloud integration test")
    pconn = None
    try:
        user = admin.identity.find_user("admin", domain_id="default", ignore_missing=False)
        role = admin.identity.find_role("admin", ignore_missing=False)
        admin.identity.assign_project_role_to_user(proj, user, role)
        pconn = project_connection(CLOUD_NAME, proj.id)
        yield proj, pconn
    finally:
        errors = cleanup_project(admin, proj, pconn)
        assert not errors, f"cleanup of {name} failed: {errors}"
