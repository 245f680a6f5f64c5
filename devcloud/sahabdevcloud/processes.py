"""Processes the devcloud started: detached in their own session, known by a pid file and the process
start time beside it (a recycled pid is not ours), stopped with their descendants."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: [state, ppid, ...] (field 3 onwards)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_time(pid: int) -> str | None:
    """Start time in clock ticks since boot (/proc/PID/stat field 22), as written to NAME.stime."""
    fields = _stat_fields(pid)
    return fields[19] if fields else None


def alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def read_pid(run: Path, name: str) -> int | None:
    try:
        return int((run / f"{name}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def service_pid(run: Path, name: str) -> int | None:
    """The pid of a running service we started, verified by its start time; else None."""
    pid = read_pid(run, name)
    if pid is None or not alive(pid):
        return None
    try:
        recorded = (run / f"{name}.stime").read_text().strip()
    except OSError:
        recorded = ""
    if recorded and start_time(pid) != recorded:
        return None
    return pid


def record(run: Path, name: str, pid: int) -> None:
    (run / f"{name}.pid").write_text(f"{pid}\n")
    (run / f"{name}.stime").write_text(f"{start_time(pid) or ''}\n")


def start(run: Path, name: str, argv: list[str], log: Path, cwd: Path, env: Mapping[str, str] | None = None) -> int:
    """Start ARGV detached (its own session, stdin /dev/null, output to LOG); its pid goes to run/NAME.pid."""
    environment = {**os.environ, **(env or {})}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
    record(run, name, process.pid)
    # nobody waits for it: it outlives this process and init reaps it
    process.returncode = 0
    return process.pid


def descendants(roots: Iterable[int]) -> set[int]:
    """The given pids and all their descendants."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                parent[int(entry)] = int(fields[1])
    keep = {p for p in roots if p in parent}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parent.items():
            if pid not in keep and ppid in keep:
                keep.add(pid)
                changed = True
    return keep


def signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def wait_gone(pids: Iterable[int], timeout: float = 20.0) -> list[int]:
    """Wait up to TIMEOUT for the pids to exit; the ones still alive then (else [])."""
    pending = list(pids)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [p for p in pending if alive(p)]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return pending


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def listening_ports() -> set[int]:
    """TCP ports in LISTEN state in this network namespace (/proc/net/tcp and tcp6)."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A":
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def kill_after(pids: list[int], timeout: float = 20.0) -> list[int]:
    """Wait for PIDS to exit; SIGKILL the ones left after TIMEOUT. Returns those."""
    left = wait_gone(pids, timeout)
    if left:
        signal_all(left, signal.SIGKILL)
        time.sleep(0.5)
    return left
