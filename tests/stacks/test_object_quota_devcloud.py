"""The Swift account-quota dynamic provider on the real cloud, through the real runner
(PulumiProvisioner, the engine from toolchain/ensure-pulumi, the devcloud): create, update, a
SIGKILL of the runner while the provider process applies an update, recovery by the next apply,
refresh finding a quota changed behind the stack's back, and destroy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.objects import read_object_quota, set_object_quota
from tests.support.processes import descendants
from tests.support.tenants import object_storage_spec as spec_for
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.devcloud, pytest.mark.pulumi, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
CLOUDS = os.environ.get("OS_CLIENT_CONFIG_FILE") or str(Path.home() / ".local/state/sahab/devcloud/clouds.yaml")


@pytest.fixture(scope="module")
def engine_path() -> str:
    result = subprocess.run([str(ROOT / "toolchain" / "ensure-pulumi")], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"the Pulumi toolchain is not available: {result.stderr[-2000:]}", pytrace=False)
    return result.stdout.strip()


@pytest.fixture(scope="module")
def admin():
    import openstack

    os.environ.setdefault("OS_CLIENT_CONFIG_FILE", CLOUDS)
    connection = openstack.connect(cloud="sahab-devcloud", api_timeout=60)
    yield connection
    connection.close()


RUN = """
import sys
from pathlib import Path
from controlplane.provisioning.pulumi import PulumiProvisioner
from tests.support.tenants import object_storage_spec as spec_for
from tests.support.waiting import wait_until
runner = PulumiProvisioner(Path(sys.argv[1]), "", "swift-test", sys.argv[2])
runner.apply(spec_for(sys.argv[3], int(sys.argv[4])), lambda event: None, password="swift-test-password-0123456789")
"""


def test_provider_creates_updates_survives_a_sigkill_and_destroys(engine_path, admin, tmp_path, monkeypatch):
    from controlplane.provisioning.pulumi import PulumiProvisioner

    clouds = CLOUDS
    monkeypatch.setenv("PATH", f"{engine_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
    suffix = uuid.uuid4().hex[:8]
    runner = PulumiProvisioner(tmp_path, "", "swift-test", clouds)
    password = "swift-test-password-0123456789"
    outputs = runner.apply(spec_for(suffix, 1), lambda event: None, password=password)
    pid = outputs.openstack_project_id
    try:
        assert read_object_quota(admin, pid) == 1 and outputs.s3_access_key and outputs.s3_secret_key
        assert outputs.s3_endpoint == "http://127.0.0.1:8890"

        # SIGKILL the runner (and its engine) while the dynamic provider's process applies 1 -> 3 GiB.
        child = subprocess.Popen(
            [sys.executable, "-c", RUN, str(tmp_path), clouds, suffix, "3"],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def provider_running() -> list[tuple[int, int]]:
            assert child.poll() is None, "the update ended before its provider ran"
            return [(pid, group) for pid, group, command in descendants(child.pid) if "pulumi.dynamic" in command]

        providers = wait_until(provider_running, 300, "the dynamic provider starting", interval=0.02)
        for group in {child.pid, *(group for _, group in providers)}:
            os.killpg(group, signal.SIGKILL)
        child.wait()

        # The next apply (refresh first, as a repair does) recovers: the quota is the granted one.
        runner.apply(spec_for(suffix, 3), lambda event: None, password=password, refresh=True)
        assert read_object_quota(admin, pid) == 3

        # Behind the stack's back: refresh reads the account and the apply puts the grant back.
        set_object_quota(admin, pid, 7)
        runner.apply(spec_for(suffix, 3), lambda event: None, password=password, refresh=True)
        assert read_object_quota(admin, pid) == 3
    finally:
        runner.destroy(spec_for(suffix, 3), lambda event: None, password=password)
    assert admin.identity.find_project(pid, ignore_missing=True) is None
    assert read_object_quota(admin, pid) == 0  # delete sets the quota to 0; the account itself stays
