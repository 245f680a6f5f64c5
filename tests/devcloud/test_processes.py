"""Starting, finding and stopping the devcloud's processes (pid + start-time files, descendants)."""

import signal
import sys
import time

from devcloud.sahabdevcloud import processes

TREE = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"


def test_a_started_process_is_found_by_pid_and_start_time_with_its_children_then_stopped(tmp_path):
    pid = processes.start(tmp_path, "tree", [sys.executable, "-c", TREE], tmp_path / "tree.out", tmp_path)
    assert processes.service_pid(tmp_path, "tree") == pid
    deadline = time.monotonic() + 10
    while len(processes.descendants([pid])) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    tree = processes.descendants([pid])
    assert pid in tree and len(tree) == 2
    processes.signal_all(tree, signal.SIGTERM)
    assert processes.wait_gone(sorted(tree), 10) == []
    assert processes.service_pid(tmp_path, "tree") is None


def test_a_recycled_pid_is_not_ours(tmp_path):
    pid = processes.start(tmp_path, "one", ["sleep", "60"], tmp_path / "one.out", tmp_path)
    try:
        (tmp_path / "one.stime").write_text("1\n")  # another process' start time
        assert processes.service_pid(tmp_path, "one") is None
    finally:
        processes.signal_all([pid], signal.SIGKILL)
        processes.wait_gone([pid], 5)


def test_kill_after_sigkills_what_ignores_sigterm(tmp_path):
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ok', flush=True); time.sleep(60)"
    )
    out = tmp_path / "s.out"
    pid = processes.start(tmp_path, "s", [sys.executable, "-c", stubborn], out, tmp_path)
    deadline = time.monotonic() + 10
    while "ok" not in out.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    processes.signal_all([pid], signal.SIGTERM)
    assert processes.kill_after([pid], 0.5) == [pid]
    assert not processes.alive(pid)


def test_missing_pid_files_mean_not_running(tmp_path):
    assert processes.read_pid(tmp_path, "nothing") is None
    assert processes.service_pid(tmp_path, "nothing") is None
