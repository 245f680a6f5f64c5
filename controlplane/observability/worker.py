"""Everything a Celery worker process needs to be observed, connected by one call from
controlplane/worker.py: task metrics and heartbeats, process metrics for the main process
and each pool process, JSON logs when configured, traces when an OTLP endpoint is set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import signals

from controlplane.observability import logs, process, tracing
from controlplane.observability.tasks import TIMER
from controlplane.settings import Settings

_instrumented = False


def instrument_worker(settings: Settings, root: Callable[[], Any]) -> None:
    """`root` is the worker's (cached) root factory (controlplane.composition): its engine is traced on first use."""
    global _instrumented
    if _instrumented:
        return
    _instrumented = True

    TIMER.connect()
    logs.configure(settings.log_format, settings.log_level)

    def start_process(**_: Any) -> None:
        # Forked pool processes start their own sampler (threads do not survive fork).
        process.start_sampling("worker", settings.process_metrics_interval_seconds)

    def trace_engine(**_: Any) -> None:
        if tracing.enabled():
            tracing.instrument_engine(root().engine)

    signals.worker_init.connect(start_process, weak=False)
    signals.worker_process_init.connect(start_process, weak=False)
    signals.task_prerun.connect(trace_engine, weak=False)
    # Before the pool forks: the SDK's batch processor restarts its thread in each child.
    tracing.configure(settings, "sahab-worker")
