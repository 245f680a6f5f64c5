"""The command line: env, status of a devcloud that is not running, usage errors."""

import subprocess
from pathlib import Path

ENTRY = Path(__file__).resolve().parents[2] / "devcloud" / "sahab-devcloud"


def run(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(state), "SAHAB_DEVCLOUD_STATE": str(state)}
    return subprocess.run([str(ENTRY), *args], capture_output=True, text=True, env=env, timeout=60)


def test_env_prints_the_exports(tmp_path):
    done = run("env", state=tmp_path)
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        f"export SAHAB_DEVCLOUD_STATE={tmp_path}",
        f"export OS_CLIENT_CONFIG_FILE={tmp_path}/clouds.yaml",
        "export OS_CLOUD=sahab-devcloud",
    ]


def test_status_of_a_stopped_devcloud_lists_every_service_and_fails(tmp_path):
    done = run("status", state=tmp_path)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == f"state dir: {tmp_path}"
    assert lines[1].split() == ["SERVICE", "PID", "STATE", "PORTS"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert rows["postgres"][:2] == ["-", "stopped"]
    assert rows["nova-conductor"][2:] == ["rpc", "only"]
    assert "r2-placement" not in rows  # RegionTwo neither wanted nor running


def test_unknown_command_prints_usage_and_exits_2(tmp_path):
    for args in ((), ("start",), ("down", "--all")):
        done = run(*args, state=tmp_path)
        assert done.returncode == 2, args
        assert "usage:" in done.stderr and "up | down [--purge] | status | env" in done.stderr


def test_down_of_a_stopped_devcloud_is_a_no_op(tmp_path):
    (tmp_path / "run").mkdir()
    done = run("down", state=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "stopping 0 processes (+postgres 0, epmd 0)" in done.stdout
