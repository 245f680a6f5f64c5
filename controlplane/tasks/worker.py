"""Celery entry point: `celery -A controlplane.tasks.worker worker` (and `beat`).

Tasks take ids only and delegate to the workflow, which reloads state."""

from __future__ import annotations

import socket
from functools import lru_cache

from celery.signals import worker_process_init

from controlplane.metrics import TASK_FAILURES
from controlplane.runtime import Runtime, build_runtime, prepare_database
from controlplane.settings import get_settings
from controlplane.tasks.celery_app import DECOMMISSION, PROVISION, RECONCILE, CeleryQueue, create_celery
from controlplane.workflows.provisioning import ProvisioningWorkflow

app = create_celery(get_settings())


@lru_cache
def runtime() -> Runtime:
    built = build_runtime(get_settings(), queue=CeleryQueue(app))
    prepare_database(built)
    return built


@lru_cache
def workflow() -> ProvisioningWorkflow:
    rt = runtime()
    return ProvisioningWorkflow(
        rt.sessions, rt.core, rt.provisioner, worker_id=socket.gethostname(), lease_seconds=rt.settings.lease_seconds,
    )


@worker_process_init.connect
def _fresh_connections(**_: object) -> None:
    # Forked pool processes must not share the parent's database connections.
    runtime.cache_clear()
    workflow.cache_clear()


def _run(task_name: str, step, *args: str) -> str:  # type: ignore[no-untyped-def]
    try:
        return step(*args)
    except Exception:
        TASK_FAILURES.labels(task_name).inc()
        raise


@app.task(name=PROVISION, acks_late=True)
def provision(request_id: str) -> str:
    return _run(PROVISION, workflow().provision, request_id)


@app.task(name=DECOMMISSION, acks_late=True)
def decommission(project_id: str) -> str:
    return _run(DECOMMISSION, workflow().decommission, project_id)


@app.task(name=RECONCILE)
def reconcile() -> dict[str, list[str]]:
    return _run(RECONCILE, workflow().reconcile)
