"""Liveness of the Celery worker and beat: a heartbeat file (SAHAB_HEARTBEAT_FILE).

Neither process serves HTTP, and a `celery inspect ping` costs a broker round trip and a Python
start with all of Celery per probe. Instead the process touches a file from its own loop (the
worker on each Celery heartbeat, every ~2 s; beat on each scheduler tick, at most every
BEAT_MAX_INTERVAL seconds) and the probe, `sahab-server alive --max-age N`, only compares the
file's modification time with the clock. A hung loop stops touching the file and the probe fails.
The file lives on a writable path (the chart puts it on the /tmp emptyDir: the root is read-only).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler

from controlplane.settings import get_settings

# Beat sleeps at most this long between ticks, so a live beat touches its file at least this often.
BEAT_MAX_INTERVAL = 10.0


def touch(path: Path, now: float | None = None) -> None:
    """Mark the process alive now (creating the file the first time)."""
    path.touch(exist_ok=True)
    if now is not None:
        os.utime(path, (now, now))


@dataclass(frozen=True)
class Verdict:
    alive: bool
    reason: str


def check(path: Path, max_age: float, clock: Callable[[], float] = time.time) -> Verdict:
    """Alive when the heartbeat file was touched at most max_age seconds ago."""
    try:
        touched = path.stat().st_mtime
    except FileNotFoundError:
        return Verdict(False, f"no heartbeat file {path}: the process has not started its loop")
    age = clock() - touched
    if age > max_age:
        return Verdict(False, f"last heartbeat {age:.0f} s ago (more than {max_age:g} s): the loop is stuck")
    return Verdict(True, f"last heartbeat {max(age, 0):.1f} s ago")


def heartbeat_on_signal(path: Path | None) -> Callable[..., None]:
    """A Celery signal receiver that touches `path` (nothing when no file is configured)."""

    def receiver(**_: Any) -> None:
        if path is not None:
            touch(path)

    return receiver


class HeartbeatScheduler(PersistentScheduler):  # type: ignore[misc]  # Celery ships no types
    """Celery beat's default scheduler, touching the heartbeat file on every tick."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_interval: float = min(self.max_interval, BEAT_MAX_INTERVAL)
        self._beat = heartbeat_on_signal(get_settings().heartbeat_file)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval: float = super().tick(*args, **kwargs)
        self._beat()
        return interval
