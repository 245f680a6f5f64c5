"""Progress lines with the seconds elapsed since the command started (the bash bootstrap's clock when it
passes SAHAB_DEVCLOUD_T0), and the failure that names a service and shows its logs."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

T0 = float(os.environ.get("SAHAB_DEVCLOUD_T0") or time.time())
_sink = threading.local()  # a job thread's log file, where its progress lines go
_lock = threading.Lock()


def elapsed() -> str:
    return f"{time.time() - T0:5.1f}"


def say(message: str) -> None:
    stream: TextIO = getattr(_sink, "stream", None) or sys.stdout
    with _lock:
        stream.write(f"[{elapsed()}s] {message}\n")
        stream.flush()


def redirect(stream: TextIO | None) -> None:
    """Send this thread's progress lines to STREAM (None: stdout again)."""
    _sink.stream = stream


class Failed(Exception):
    """A step failed: SERVICE names what to look at, LOGS are shown (their tails)."""

    def __init__(self, service: str, message: str, logs: list[Path] | None = None) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.message = message
        self.logs = logs or []

    def report(self, stream: TextIO) -> None:
        stream.write(f"[{elapsed()}s] FAILED: {self.service}: {self.message}\n")
        for log in self.logs:
            try:
                if log.stat().st_size == 0:
                    continue
                lines = log.read_text(errors="replace").splitlines()[-25:]
            except OSError:
                continue
            stream.write(f"----- tail of {log} -----\n")
            stream.write("".join(line + "\n" for line in lines))
        stream.flush()
