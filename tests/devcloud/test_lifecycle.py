"""`up`'s start step on an existing state dir: running services are left alone, dead ones started again."""

import os
import signal
import time
from pathlib import Path

import pytest

from devcloud.sahabdevcloud import processes
from devcloud.sahabdevcloud.lifecycle import Devcloud
from devcloud.sahabdevcloud.output import Failed
from devcloud.sahabdevcloud.services import REGION_ONE, REGION_TWO, Paths, Service


def sleeper(name: str) -> Service:
    return Service(name, "test", lambda p, r, n: ["sleep", "300"])


def test_start_services_starts_only_what_is_not_running(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "run").mkdir()
    devcloud = Devcloud(Paths(state=tmp_path, here=tmp_path))
    table = [sleeper("one"), sleeper("two")]
    try:
        devcloud.start_services(table)
        first = {s.name: devcloud.pid(s) for s in table}
        assert all(first.values())
        os.kill(first["two"], signal.SIGKILL)
        processes.wait_gone([first["two"]], 5)

        devcloud.start_services(table)
        again = {s.name: devcloud.pid(s) for s in table}
        assert again["one"] == first["one"]
        assert again["two"] and again["two"] != first["two"]
    finally:
        for s in table:
            pid = devcloud.pid(s)
            if pid:
                os.kill(pid, signal.SIGKILL)


def devcloud_in(tmp_path: Path) -> Devcloud:
    (tmp_path / "logs").mkdir(exist_ok=True)
    (tmp_path / "run").mkdir(exist_ok=True)
    return Devcloud(Paths(state=tmp_path, here=tmp_path))


def test_a_failed_readiness_names_the_service_and_its_logs(tmp_path: Path, monkeypatch) -> None:
    devcloud = devcloud_in(tmp_path)
    verdict = "echo '  waiting for keystone: 503'; echo 'NOTREADY r2-nova-compute no hypervisor mapped yet'; exit 1"
    monkeypatch.setattr(devcloud, "cloud", lambda *args: ["sh", "-c", verdict])
    with pytest.raises(Failed) as failed:
        devcloud.ready(REGION_TWO, "1")
    assert failed.value.service == "r2-nova-compute"
    assert failed.value.message == "NOTREADY r2-nova-compute no hypervisor mapped yet"
    assert tmp_path / "logs" / "r2-nova-compute.log" in failed.value.logs


def test_the_first_failed_job_stops_the_others(tmp_path: Path, monkeypatch) -> None:
    devcloud = devcloud_in(tmp_path)

    def job(name: str, region: object) -> None:
        if name == "broken":
            raise Failed("setup-broken", "db sync failed")
        devcloud.run(name, ["sleep", "60"])
        raise AssertionError("not stopped")

    monkeypatch.setattr(devcloud, "job", job)
    started = time.monotonic()
    with pytest.raises(Failed) as failed:
        devcloud.run_jobs(["slow", "broken"], REGION_ONE)
    assert failed.value.service == "setup-broken"
    assert "FAILED: setup-broken: db sync failed" in (tmp_path / "logs" / "setup-broken.log").read_text()
    assert time.monotonic() - started < 30
    deadline = time.monotonic() + 10
    while devcloud._job_children and time.monotonic() < deadline:  # the sleep was terminated
        time.sleep(0.05)
    assert not devcloud._job_children
