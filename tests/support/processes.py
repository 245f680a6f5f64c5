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
