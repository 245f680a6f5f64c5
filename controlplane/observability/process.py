"""CPU, memory and open files of every API and worker process.

prometheus-client's multiprocess mode cannot export the usual `process_*` collectors (each scrape
would describe only the process that answers it), so each process samples itself on a timer into
`liveall` gauges: the scrape then shows one series per live process, labelled with its pid and role,
and a dead process's series disappear (mark_process_dead). Outside multiprocess mode the same gauges
hold the one process's values."""

from __future__ import annotations

import os
import threading

from prometheus_client import Gauge
from prometheus_client.process_collector import ProcessCollector

_LABELS = ["role"]
CPU = Gauge(
    "sahab_process_cpu_seconds", "CPU time (user + system) this process has used.", _LABELS, multiprocess_mode="liveall"
)
MEMORY = Gauge(
    "sahab_process_resident_memory_bytes", "Resident memory of this process.", _LABELS, multiprocess_mode="liveall"
)
OPEN_FDS = Gauge(
    "sahab_process_open_fds", "Open file descriptors of this process.", _LABELS, multiprocess_mode="liveall"
)
MAX_FDS = Gauge("sahab_process_max_fds", "File descriptor limit of this process.", _LABELS, multiprocess_mode="liveall")
STARTED = Gauge(
    "sahab_process_start_time_seconds", "When this process started (Unix time).", _LABELS, multiprocess_mode="liveall"
)

_SOURCES = {
    "process_cpu_seconds": CPU,
    "process_resident_memory_bytes": MEMORY,
    "process_open_fds": OPEN_FDS,
    "process_max_fds": MAX_FDS,
    "process_start_time_seconds": STARTED,
}

_started_in: dict[int, threading.Event] = {}
_lock = threading.Lock()


def sample(role: str) -> None:
    """Copy this process's /proc figures into the gauges (nothing on systems without /proc)."""
    for family in ProcessCollector(registry=None).collect():
        gauge = _SOURCES.get(family.name)
        if gauge is not None and family.samples:
            gauge.labels(role).set(family.samples[0].value)


def start_sampling(role: str, interval: float) -> threading.Event:
    """Sample now and then every `interval` seconds in a daemon thread; once per process (a forked
    child starts its own). Set the returned event to stop."""
    pid = os.getpid()
    with _lock:
        if pid in _started_in:
            return _started_in[pid]
        stop = _started_in[pid] = threading.Event()
    sample(role)

    def loop() -> None:
        while not stop.wait(interval):
            sample(role)

    threading.Thread(target=loop, name="sahab-process-metrics", daemon=True).start()
    return stop
