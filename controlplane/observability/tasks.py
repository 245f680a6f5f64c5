"""Task metrics from Celery's signals, recorded in the worker process that ran the task:
duration and outcome by task name, retries, redeliveries (a message given again after a worker
died with it unacknowledged), and each worker's last heartbeat (every ~2 s while it is alive)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import signals
from prometheus_client import Counter, Gauge, Histogram

# Tasks run from under a second (preview, reconcile) to tens of minutes (a Pulumi up with retries).
TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)

TASK_DURATION = Histogram(
    "sahab_task_duration_seconds",
    "Duration of Celery tasks by task name and outcome (success, failure, retry).",
    ["task", "outcome"],
    buckets=TASK_BUCKETS,
)
TASK_RETRIES = Counter("sahab_task_retries_total", "Celery tasks that asked to be retried.", ["task"])
TASK_REDELIVERIES = Counter(
    "sahab_task_redeliveries_total", "Task messages the broker delivered again (a worker died holding them).", ["task"]
)
WORKER_HEARTBEAT = Gauge(
    "sahab_worker_last_heartbeat_timestamp_seconds",
    "When each Celery worker last sent its heartbeat (Unix time).",
    ["worker"],
    multiprocess_mode="max",
)

_OUTCOMES = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry", "REJECTED": "failure", "IGNORED": "success"}


class TaskTimer:
    """Connects to Celery's signals; the clock is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._wall = wall
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._connected = False

    def connect(self) -> None:
        """Once per timer: a second connection would count every task twice."""
        if self._connected:
            return
        self._connected = True
        signals.task_prerun.connect(self.prerun, weak=False)
        signals.task_postrun.connect(self.postrun, weak=False)
        signals.task_retry.connect(self.retry, weak=False)
        signals.heartbeat_sent.connect(self.heartbeat, weak=False)
        signals.worker_ready.connect(self.heartbeat, weak=False)

    def prerun(self, task_id: str | None = None, task: Any = None, **_: Any) -> None:
        with self._lock:
            self._started[task_id or ""] = self._clock()
        delivery = getattr(getattr(task, "request", None), "delivery_info", None) or {}
        if delivery.get("redelivered"):
            TASK_REDELIVERIES.labels(task.name).inc()

    def postrun(self, task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
        with self._lock:
            started = self._started.pop(task_id or "", None)
        if started is None or task is None:
            return
        outcome = _OUTCOMES.get(state or "", (state or "unknown").lower())
        TASK_DURATION.labels(task.name, outcome).observe(max(self._clock() - started, 0.0))

    def retry(self, sender: Any = None, **_: Any) -> None:
        TASK_RETRIES.labels(getattr(sender, "name", "unknown")).inc()

    def heartbeat(self, sender: Any = None, **_: Any) -> None:
        eventer = getattr(sender, "eventer", None)
        hostname = getattr(eventer, "hostname", None) or getattr(sender, "hostname", None) or socket.gethostname()
        WORKER_HEARTBEAT.labels(hostname).set(self._wall())


# The worker process's timer (controlplane.observability.worker connects it).
TIMER = TaskTimer()
