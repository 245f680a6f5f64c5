"""Task metrics from Celery's signals, on tasks run through Celery's own tracer (eager apply)."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest
from celery import Celery

from controlplane.metrics import render
from controlplane.observability.tasks import TIMER
from tests.support.metrics import value


@pytest.fixture
def celery_app() -> Celery:
    TIMER.connect()
    TIMER.connect()  # idempotent: a task is counted once
    return Celery("obs-test", broker="memory://")


def test_duration_and_outcome_by_task_name(celery_app):
    name = f"test.ok-{uuid.uuid4().hex[:8]}"
    failing = f"test.fails-{uuid.uuid4().hex[:8]}"

    @celery_app.task(name=name)
    def ok() -> str:
        time.sleep(0.01)  # time itself: the task's duration is what is measured
        return "done"

    @celery_app.task(name=failing)
    def fails() -> None:
        raise RuntimeError("no")

    ok.apply()
    ok.apply()
    fails.apply()
    text = render([]).decode()
    assert value(text, "sahab_task_duration_seconds_count", task=name, outcome="success") == 2
    assert value(text, "sahab_task_duration_seconds_sum", task=name, outcome="success") >= 0.02
    assert value(text, "sahab_task_duration_seconds_count", task=failing, outcome="failure") == 1
    assert value(text, "sahab_task_duration_seconds_count", task=failing, outcome="success") == 0


def test_retries_are_counted(celery_app):
    name = f"test.retry-{uuid.uuid4().hex[:8]}"

    @celery_app.task(name=name, bind=True, max_retries=1)
    def flaky(self) -> None:  # type: ignore[no-untyped-def]
        raise self.retry(countdown=0)

    flaky.apply()
    text = render([]).decode()
    assert value(text, "sahab_task_retries_total", task=name) >= 1
    assert value(text, "sahab_task_duration_seconds_count", task=name, outcome="retry") >= 1


def test_redelivered_messages_are_counted():
    name = f"test.redelivered-{uuid.uuid4().hex[:8]}"
    task = SimpleNamespace(name=name, request=SimpleNamespace(delivery_info={"redelivered": True}))
    TIMER.prerun(task_id="t1", task=task)
    TIMER.postrun(task_id="t1", task=task, state="SUCCESS")
    fresh = SimpleNamespace(name=name, request=SimpleNamespace(delivery_info={"redelivered": False}))
    TIMER.prerun(task_id="t2", task=fresh)
    TIMER.postrun(task_id="t2", task=fresh, state="SUCCESS")
    text = render([]).decode()
    assert value(text, "sahab_task_redeliveries_total", task=name) == 1
    assert value(text, "sahab_task_duration_seconds_count", task=name) == 2


def test_heartbeat_records_the_worker_and_the_time():
    worker = f"w-{uuid.uuid4().hex[:8]}@test"
    before = time.time()
    TIMER.heartbeat(sender=SimpleNamespace(eventer=SimpleNamespace(hostname=worker)))
    assert (
        before
        <= value(render([]).decode(), "sahab_worker_last_heartbeat_timestamp_seconds", worker=worker)
        <= time.time()
    )
