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
