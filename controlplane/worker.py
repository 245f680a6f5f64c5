"""The worker process's entry point: `celery -A controlplane.worker worker` (and `beat`).

Tasks take ids only and delegate to the worker's root (controlplane.composition.WorkerRoot), built on
first use in each process; beat loads this module for the app and its schedule and never builds it."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from celery import Task
from celery.signals import heartbeat_sent, worker_process_init, worker_process_shutdown, worker_ready
from prometheus_client import multiprocess

from controlplane.billing import schedule
from controlplane.capacity import check_totals as check_region_totals
from controlplane.composition import WorkerRoot, build_beat, build_worker
from controlplane.metrics import serve_process_metrics
from controlplane.observability.counters import TASK_FAILURES
from controlplane.observability.worker import instrument_worker
from controlplane.settings import get_settings
from controlplane.tasks.celery_app import (
    CAPTURE_CREDENTIALS,
    CHECK_TOTALS,
    DECOMMISSION,
    DELIVER_WEBHOOK,
    METER,
    PREVIEW,
    PROGRAMMES,
    PROVISION,
    RECONCILE,
    REPAIR,
    STATEMENTS,
    WEBHOOKS_RECONCILE,
    CeleryQueue,
)
from controlplane.tasks.liveness import heartbeat_on_signal
from controlplane.workflows.provisioning import ProvisioningWorkflow

T = TypeVar("T")

# Everything a worker writes is readable by its user only: Pulumi state and work directories on the
# file backend (they hold the tenants' secrets, encrypted), the embedded credentials key, SQLite files.
# The engine is a child process and inherits this mask.
os.umask(0o077)
app = build_beat(get_settings())


@lru_cache
def root() -> WorkerRoot:
    built = build_worker(get_settings(), queue=CeleryQueue(app))
    built.prepare_database()
    return built


instrument_worker(get_settings(), root)  # task/process metrics, heartbeats, logs, traces

# Liveness (SAHAB_HEARTBEAT_FILE): the main process touches the file on each Celery heartbeat (~2 s),
# which its event loop sends; `sahab-server alive` is the probe. Connected at import, before the
# consumer starts: Celery only sends heartbeat_sent when it had receivers at that time.
_alive = heartbeat_on_signal(get_settings().heartbeat_file)
heartbeat_sent.connect(_alive, weak=False)
worker_ready.connect(_alive, weak=False)


@lru_cache
def workflow(worker_id: str) -> ProvisioningWorkflow:
    return root().workflow(worker_id)


@worker_process_init.connect
def _fresh_connections(**_: object) -> None:
    # Forked pool processes must not share the parent's database connections.
    root.cache_clear()
    workflow.cache_clear()
    # Connect and load the engine now, not in the first task a user waits for.
    try:
        root().provisioner.warm_up()
    except Exception:  # the first task says what is wrong, with the task's own handling
        logging.getLogger(__name__).warning("worker warm-up failed", exc_info=True)


@worker_ready.connect
def _serve_metrics(**_: object) -> None:
    port = get_settings().worker_metrics_port
    if port:
        serve_process_metrics(port)


@worker_process_shutdown.connect
def _forget_dead_process(pid: int | None = None, **_: object) -> None:
    # Live gauges of a finished pool process must not linger (counters are kept).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


def _run(task_name: str, step: Callable[..., T], *args: Any) -> T:
    try:
        return step(*args)
    except Exception:
        TASK_FAILURES.labels(task_name).inc()
        raise


def _node(task: Task) -> str:
    return task.request.hostname or socket.gethostname()


@app.task(name=PROVISION, acks_late=True, bind=True)
def provision(self: Task, request_id: str) -> str:
    return _run(PROVISION, workflow(_node(self)).provision, request_id)


@app.task(name=DECOMMISSION, acks_late=True, bind=True)
def decommission(self: Task, project_id: str) -> str:
    return _run(DECOMMISSION, workflow(_node(self)).decommission, project_id)


@app.task(name=PREVIEW, acks_late=True, bind=True)
def preview(self: Task, request_id: str) -> str:
    return _run(PREVIEW, workflow(_node(self)).preview, request_id)


@app.task(name=RECONCILE, bind=True)
def reconcile(self: Task) -> dict[str, list[str]]:
    return _run(RECONCILE, workflow(_node(self)).reconcile)


@app.task(name=METER)
def meter() -> dict[str, int]:
    """Metering collection (Celery beat, every SAHAB_METERING_INTERVAL_SECONDS)."""

    def step() -> dict[str, int]:
        result = root().metering.collect()
        return {
            "projects": result.projects,
            "read": result.read,
            "failed": len(result.failed),
            "regions_failed": len(result.regions_failed),
            "drifts": result.drifts,
        }

    return _run(METER, step)


@app.task(name=REPAIR, acks_late=True, bind=True)
def repair(self: Task, project_id: str) -> str:
    return _run(REPAIR, workflow(_node(self)).reapply, project_id)


@app.task(name=DELIVER_WEBHOOK, acks_late=True)
def deliver_webhook(delivery_id: str) -> str:
    """One attempt at one stored webhook delivery; a retry is a new task, sent with its backoff by the attempt."""
    return _run(DELIVER_WEBHOOK, root().webhooks.deliver, delivery_id)


@app.task(name=WEBHOOKS_RECONCILE)
def webhooks_reconcile() -> int:
    """Deliveries whose task was lost are sent again (Celery beat, every 30 s)."""
    return _run(WEBHOOKS_RECONCILE, lambda: len(root().webhooks.reconcile()))


@app.task(name=CHECK_TOTALS)
def check_totals() -> dict[str, dict[str, dict[str, int]]]:
    """The running totals' invariant (Celery beat, every SAHAB_TOTALS_CHECK_INTERVAL_SECONDS): what it repaired."""
    return _run(CHECK_TOTALS, check_region_totals, root().sessions)


@app.task(name=CAPTURE_CREDENTIALS, acks_late=True, bind=True)
def capture_credentials(self: Task, project_id: str) -> str:
    return _run(CAPTURE_CREDENTIALS, workflow(_node(self)).capture_credentials, project_id)


@app.task(name=STATEMENTS)
def statements() -> dict[str, object]:
    """Issue last month's statements, refresh this month's drafts, send budget alerts (Celery beat, hourly)."""

    def step() -> dict[str, object]:
        worker = root()
        assert worker.deps.billing is not None
        return schedule.run(worker.sessions, worker.deps.billing, worker.deps.clock, worker.deps.queue)

    return _run(STATEMENTS, step)


@app.task(name=PROGRAMMES)
def programmes() -> dict[str, int]:
    """Programme expiry notices, expiries and shrinking (Celery beat, every SAHAB_PROGRAMMES_CHECK_INTERVAL_SECONDS)."""

    def step() -> dict[str, int]:
        outcome = root().programme_scheduler.run()
        return {
            "notices": len(outcome.notices),
            "expired": len(outcome.expired),
            "continued": len(outcome.continued),
            "shrinking": len(outcome.shrinking),
            "ended": len(outcome.ended),
            "decreases": len(outcome.decreases),
            **{f"emails_{k}": v for k, v in outcome.emails.items()},
        }

    return _run(PROGRAMMES, step)
