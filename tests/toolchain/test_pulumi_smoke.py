"""Smoke test of the Pulumi toolchain against the local OpenStack.

An inline Automation API program (no pulumi-language-python needed) run by the engine from
toolchain/ensure-pulumi, with our pulumi-resource-openstack, a file:// backend and passphrase
secrets in a tmp dir, creates a Keystone project with compute, block-storage and network quotas
(every field set explicitly), checks them with openstacksdk, then destroys and removes the stack.
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.pulumi,
    # importing pulumi_openstack warns about its own deprecated aliases
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

CLOUD_NAME = "sahab-devcloud"  # admin cloud in the devcloud's clouds.yaml
REGION = "RegionOne"
REPO = Path(__file__).resolve().parents[2]
ENSURE = REPO / "toolchain" / "ensure-pulumi"
DEVCLOUD_HINT = "run `devcloud/sahab-devcloud up`"
# A cold build of both binaries takes 10-25 minutes on 2 cores; cached it takes < 1 s.
ENSURE_TIMEOUT = int(os.environ.get("SAHAB_ENSURE_PULUMI_TIMEOUT", "3600"))
# Terraform/Pulumi field -> value. Values differ from the cloud defaults so a no-op shows.
COMPUTE = {
    "cores": 7,
    "ram": 3072,
    "instances": 5,
    "key_pairs": 11,
    "metadata_items": 17,
    "server_groups": 4,
    "server_group_members": 6,
    "injected_files": 3,
    "injected_file_content_bytes": 10241,
    "injected_file_path_bytes": 254,
    "fixed_ips": 13,
    "floating_ips": 3,
    "security_groups": 8,
    "security_group_rules": 31,
}
BLOCKSTORAGE = {
    "volumes": 6,
    "gigabytes": 23,
    "snapshots": 4,
    "backups": 2,
    "backup_gigabytes": 19,
    "groups": 3,
    "per_volume_gigabytes": 9,
}
# per-volume-type quotas (type __DEFAULT__ exists on every Cinder with default_volume_type)
VOLUME_TYPE_QUOTA = {"volumes___DEFAULT__": "5", "gigabytes___DEFAULT__": "21", "snapshots___DEFAULT__": "3"}
NETWORK = {
    "network": 4,
    "subnet": 5,
    "port": 21,
    "router": 3,
    "floatingip": 2,
    "security_group": 6,
    "security_group_rule": 40,
    "subnetpool": 2,
    "rbac_policy": 7,
}


def devcloud_clouds_yaml() -> Path:
    if os.environ.get("OS_CLIENT_CONFIG_FILE"):
        return Path(os.environ["OS_CLIENT_CONFIG_FILE"])
    if os.environ.get("SAHAB_DEVCLOUD_STATE"):
        return Path(os.environ["SAHAB_DEVCLOUD_STATE"]) / "clouds.yaml"
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local/state")
    return Path(base) / "sahab" / "devcloud" / "clouds.yaml"


def ensure_pulumi_bin() -> Path:
    """The bin directory with `pulumi` and `pulumi-resource-openstack` (builds them if needed)."""
    if not os.access(ENSURE, os.X_OK):
        pytest.fail(f"{ENSURE} is missing or not executable", pytrace=False)
    t0 = time.monotonic()
    try:
        proc = subprocess.run([str(ENSURE)], capture_output=True, text=True, timeout=ENSURE_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(
            f"toolchain/ensure-pulumi did not finish within {ENSURE_TIMEOUT}s:\n{(e.stderr or b'')[-4000:]!s}",
            pytrace=False,
        )
    if proc.returncode != 0:
        pytest.fail(
            f"toolchain/ensure-pulumi failed (exit {proc.returncode}) after "
            f"{time.monotonic() - t0:.0f}s:\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    lines = proc.stdout.strip().splitlines()
    if len(lines) != 1:
        pytest.fail(f"toolchain/ensure-pulumi must print exactly the bin directory, got {proc.stdout!r}", pytrace=False)
    bin_dir = Path(lines[0])
    for exe in ("pulumi", "pulumi-resource-openstack"):
        if not os.access(bin_dir / exe, os.X_OK):
            pytest.fail(f"toolchain/ensure-pulumi printed {bin_dir}, which has no executable {exe}", pytrace=False)
    return bin_dir


def devcloud_admin():
    """Admin connection to the devcloud; FAILS (never skips) when it is not reachable."""
    import openstack

    path = devcloud_clouds_yaml()
    if not path.is_file():
        pytest.fail(f"the local OpenStack is not set up: {path} does not exist; {DEVCLOUD_HINT}", pytrace=False)
    try:
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(path)
        conn = openstack.connect(cloud=CLOUD_NAME, api_timeout=30)
        conn.authorize()
        list(conn.identity.projects(name="admin"))
    except Exception as e:  # noqa: BLE001 - any failure means: cloud not usable
        pytest.fail(
            f"the local OpenStack ({CLOUD_NAME} in {path}) is unreachable: {type(e).__name__}: {e}; {DEVCLOUD_HINT}",
            pytrace=False,
        )
    return conn


def make_program(project_name: str):
    def program():
        import pulumi
        import pulumi_openstack as openstack

        provider = openstack.Provider("devcloud", cloud=CLOUD_NAME, region=REGION)
        opts = pulumi.ResourceOptions(provider=provider)
        project = openstack.identity.Project(
            "tenant",
            name=project_name,
            description="sahab pulumi smoke test",
            domain_id="default",
            enabled=True,
            opts=opts,
        )
        openstack.compute.QuotaSetV2("compute-quota", project_id=project.id, region=REGION, **COMPUTE, opts=opts)
        openstack.blockstorage.QuoteSetV3(
            "volume-quota",
            project_id=project.id,
            region=REGION,
            **BLOCKSTORAGE,
            volume_type_quota=VOLUME_TYPE_QUOTA,
            opts=opts,
        )
        openstack.networking.QuotaV2("network-quota", project_id=project.id, region=REGION, **NETWORK, opts=opts)
        pulumi.export("project_id", project.id)

    return program


def read_quotas(conn, project_id):
    compute = conn.compute.get(f"/os-quota-sets/{project_id}", microversion="2.1")
    compute.raise_for_status()
    volume = conn.block_storage.get(f"/os-quota-sets/{project_id}")
    volume.raise_for_status()
    network = conn.network.get(f"/quotas/{project_id}")
    network.raise_for_status()
    return (compute.json()["quota_set"], volume.json()["quota_set"], network.json()["quota"])


@pytest.mark.timeout(3600)
def test_pulumi_creates_project_with_quotas(tmp_path):
    """Checks run in the test (not fixtures) so that a missing toolchain or cloud FAILS."""
    from pulumi import automation as auto

    pulumi_bin = ensure_pulumi_bin()
    os_admin = devcloud_admin()

    project_name = f"sahab-smoke-{uuid.uuid4().hex[:10]}"
    state = tmp_path / "state"
    work = tmp_path / "work"
    home = tmp_path / "pulumi-home"
    for d in (state, work, home):
        d.mkdir()
    env = {
        "PULUMI_CONFIG_PASSPHRASE": "sahab-smoke",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # set by the os_admin fixture to the devcloud's clouds.yaml
        "OS_CLIENT_CONFIG_FILE": os.environ["OS_CLIENT_CONFIG_FILE"],
        "OS_CLOUD": CLOUD_NAME,
        "PATH": f"{pulumi_bin}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    cmd = auto.PulumiCommand(root=str(pulumi_bin.parent))
    stack = auto.create_stack(
        stack_name="smoke",
        project_name="sahab-pulumi-smoke",
        program=make_program(project_name),
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(work),
            pulumi_home=str(home),
            pulumi_command=cmd,
            secrets_provider="passphrase",
            env_vars=env,
            project_settings=auto.ProjectSettings(
                name="sahab-pulumi-smoke", runtime="python", backend=auto.ProjectBackend(url=f"file://{state}")
            ),
        ),
    )
    log = []
    project_id = None
    try:
        up = stack.up(on_output=log.append, color="never")
        assert up.summary.result == "succeeded", "\n".join(log)
        assert up.summary.resource_changes.get("create") == 6, up.summary.resource_changes
        project_id = up.outputs["project_id"].value

        project = os_admin.identity.get_project(project_id)
        assert project.name == project_name and project.is_enabled

        compute, volume, network = read_quotas(os_admin, project_id)
        assert {k: compute[k] for k in COMPUTE} == COMPUTE
        assert {k: volume[k] for k in BLOCKSTORAGE} == BLOCKSTORAGE
        assert {k: str(volume[k]) for k in VOLUME_TYPE_QUOTA} == VOLUME_TYPE_QUOTA
        assert {k: network[k] for k in NETWORK} == NETWORK

        # a second up is a no-op: the provider reads back exactly what it wrote
        again = stack.up(on_output=log.append, color="never")
        assert again.summary.resource_changes == {"same": 6}, "\n".join(log[-60:])

        destroyed = stack.destroy(on_output=log.append, color="never")
        assert destroyed.summary.result == "succeeded", "\n".join(log[-60:])
        assert os_admin.identity.find_project(project_id, ignore_missing=True) is None
        project_id = None
        stack.workspace.remove_stack("smoke")
        assert "smoke" not in [s.name for s in stack.workspace.list_stacks()]
        # only the engine's *.bak backups may stay in the backend
        assert not list((state / ".pulumi" / "stacks").rglob("smoke.json"))
    finally:
        if project_id is not None:  # the test failed half-way: leave no tenant behind
            try:
                stack.destroy(color="never")
                stack.workspace.remove_stack("smoke")
            except Exception:  # noqa: BLE001
                pass
            p = os_admin.identity.find_project(project_id, ignore_missing=True)
            if p is not None:
                os_admin.identity.delete_project(p)
        os_admin.close()
