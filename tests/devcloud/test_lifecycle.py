"""`up`'s start step on an existing state dir: running services are left alone, dead ones started again."""

import os
import signal
from pathlib import Path

from devcloud.sahabdevcloud import processes
from devcloud.sahabdevcloud.lifecycle import Devcloud
from devcloud.sahabdevcloud.services import Paths, Service


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
