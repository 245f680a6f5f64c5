"""Fixtures for the integration tests against the local OpenStack (devcloud/sahab-devcloud).

The cloud is found through OS_CLIENT_CONFIG_FILE (cloud name ``sahab-devcloud``); when that
is not set, the devcloud's default clouds.yaml is used.  If the cloud does not answer the
tests FAIL (they never skip): start it with ``devcloud/sahab-devcloud up``.
"""

import os
import uuid
from pathlib import Path

import pytest

from tests.support.devcloud import cleanup_project, clouds_yaml, project_connection, state_dir

CLOUD_NAME = "sahab-devcloud"
HINT = 'run `devcloud/sahab-devcloud up` (then `eval "$(devcloud/sahab-devcloud env)"`)'


def pytest_configure(config):
    config.addinivalue_line("markers", "devcloud: needs the local OpenStack (devcloud/sahab-devcloud up)")


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
