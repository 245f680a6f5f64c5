from __future__ import annotations

import subprocess
from collections.abc import Iterable


def stop(processes: Iterable[subprocess.Popen[bytes]], timeout: float = 20) -> None:
    """SIGTERM them all, then wait; SIGKILL what is still there after the timeout."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()


def group_commands(pgid: int) -> list[str]:
    """Command lines of the live processes in a process group (e.g. a worker and the engine it runs)."""
    from pathlib import Path

    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, IndexError, ValueError):
            continue
    return found


def descendants(pid: int) -> list[tuple[int, int, str]]:
    """(pid, process group, command line) of the live descendants of a process: the Pulumi engine
    starts its plugins in process groups of their own, so a group does not hold them."""
    from pathlib import Path

    parent, info = {}, {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                continue
            parent[int(proc.name)] = int(fields[1])
            info[int(proc.name)] = (
                int(fields[2]),
                (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"),
            )
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], {pid}
    while frontier:
        children = {p for p, pp in parent.items() if pp in frontier}
        found.extend((p, *info[p]) for p in children)
        frontier = children
    return found
