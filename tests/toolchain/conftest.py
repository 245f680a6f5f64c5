"""Fixtures for the Pulumi toolchain smoke test (toolchain/ensure-pulumi + the local OpenStack).

Nothing here skips: a missing toolchain or an unreachable cloud FAILS the test with a message
saying what to run.
"""
import os
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENSURE = REPO / "toolchain" / "ensure-pulumi"
CLOUD_NAME = "sahab-devcloud"
DEVCLOUD_HINT = "run `devcloud/sahab-devcloud up`"
# A cold build of both binaries takes 10-25 minutes on 2 cores; cached it takes < 1 s.
ENSURE_TIMEOUT = int(os.environ.get("SAHAB_ENSURE_PULUMI_TIMEOUT", "3600"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "pulumi: needs the Pulumi engine and OpenStack provider (toolchain/ensure-pulumi)")


def devcloud_clouds_yaml() -> Path:
    if os.environ.get("OS_CLIENT_CONFIG_FILE"):
        return Path(os.environ["OS_CLIENT_CONFIG_FILE"])
    if os.environ.get("SAHAB_DEVCLOUD_STATE"):
        return Path(os.environ["SAHAB_DEVCLOUD_STATE"]) / "clouds.yaml"
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local/state")
    return Path(base) / "sahab" / "devcloud" / "clouds.yaml"


@pytest.fixture(scope="session")
def pulumi_bin() -> Path:
    """The bin directory with `pulumi` and `pulumi-resource-openstack` (builds them if needed)."""
    if not os.access(ENSURE, os.X_OK):
        pytest.fail(f"{ENSURE} is missing or not executable", pytrace=False)
    t0 = time.monotonic()
    try:
        proc = subprocess.run([str(ENSURE)], capture_output=True, text=True, timeout=ENSURE_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"toolchain/ensure-pulumi did not finish within {ENSURE_TIMEOUT}s:\n"
                    f"{(e.stderr or b'')[-4000:]!s}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"toolchain/ensure-pulumi failed (exit {proc.returncode}) after "
                    f"{time.monotonic() - t0:.0f}s:\n{proc.stderr[-4000:]}", pytrace=False)
    lines = proc.stdout.strip().splitlines()
    if len(lines) != 1:
        pytest.fail(f"toolchain/ensure-pulumi must print exactly the bin directory, got {proc.stdout!r}",
                    pytrace=False)
    bin_dir = Path(lines[0])
    for exe in ("pulumi", "pulumi-resource-openstack"):
        if not os.access(bin_dir / exe, os.X_OK):
            pytest.fail(f"toolchain/ensure-pulumi printed {bin_dir}, which has no executable {exe}",
                        pytrace=False)
    return bin_dir


@pytest.fixture(scope="session")
def os_admin():
    """Admin connection to the devcloud; FAILS (never skips) when it is not reachable."""
    import openstack

    path = devcloud_clouds_yaml()
    if not path.is_file():
        pytest.fail(f"the local OpenStack is not set up: {path} does not exist; {DEVCLOUD_HINT}",
                    pytrace=False)
    try:
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(path)
        conn = openstack.connect(cloud=CLOUD_NAME, api_timeout=30)
        conn.authorize()
        list(conn.identity.projects(name="admin"))
    except Exception as e:  # noqa: BLE001 - any failure means: cloud not usable
        pytest.fail(f"the local OpenStack ({CLOUD_NAME} in {path}) is unreachable: "
                    f"{type(e).__name__}: {e}; {DEVCLOUD_HINT}", pytrace=False)
    yield conn
    conn.close()
