"""One composition root per process: the API's builds no provisioner, the worker's builds what its
tasks run, both over the same foundation, and beat's is the Celery app with its schedule."""

from __future__ import annotations

from controlplane.composition import ApiRoot, WorkerRoot, build_api, build_beat, worker_root
from controlplane.settings import Settings
from controlplane.tasks.celery_app import METER, PROGRAMMES, STATEMENTS
from tests.support.fakes import RecordingQueue


def test_the_api_root_has_no_provisioner_and_reads_no_cloud(runtime: ApiRoot) -> None:
    assert not hasattr(runtime, "provisioner") and not hasattr(runtime, "metering")
    assert len(runtime.collectors) == 3  # capacity, metering rows, programmes: database reads only


def test_the_worker_root_shares_the_foundation_and_builds_its_jobs(runtime: ApiRoot) -> None:
    worker = worker_root(runtime)
    assert isinstance(worker, WorkerRoot)
    assert worker.engine is runtime.engine and worker.sessions is runtime.sessions and worker.deps is runtime.deps
    assert worker.programme_scheduler is worker.programme_scheduler  # built once per process
    assert worker.webhooks.targets is worker.webhook_targets


def test_the_roots_are_built_from_settings_alone(settings: Settings) -> None:
    api = build_api(settings, queue=RecordingQueue())
    try:
        api.prepare_database()
        assert api.catalogue is api.deps.catalogue
    finally:
        api.engine.dispose()


def test_beat_builds_the_schedule_only(settings: Settings) -> None:
    tasks = {entry["task"] for entry in build_beat(settings).conf.beat_schedule.values()}
    assert {METER, STATEMENTS, PROGRAMMES} <= tasks
