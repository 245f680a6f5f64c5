"""Webhook deliveries through the real parts: alerts stored on PostgreSQL, their tasks sent through RabbitMQ
after commit and run by a Celery worker process, which POSTs to receivers on loopback (allow-listed by the
setting, as an operator would). A receiver that drips its answer is cut at the deadline and does not hold
up another organisation's delivery; a task lost because the broker was down is sent again by reconcile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from controlplane.clock import SystemClock
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.persistence.models import WebhookDelivery
from controlplane.ports import Alert
from controlplane.settings import Settings
from controlplane.tasks.celery_app import CeleryQueue, create_celery
from controlplane.webhooks.delivery import DeliveryRules, WebhookDeliverer
from controlplane.webhooks.service import enqueue_alerts
from controlplane.webhooks.targets import TargetPolicy
from tests import factories
from tests.support.ports import free_port
from tests.support.processes import stop
from tests.support.waiting import wait_until
from tests.support.webhooks import Receiver, dripping_receiver

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


@pytest.fixture
def sessions(postgres_url):
    engine = make_engine(postgres_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def worker(postgres_url, rabbitmq, issuer, tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "metrics").mkdir()
    env = dict(
        os.environ,
        SAHAB_DATABASE_URL=postgres_url,
        SAHAB_BROKER_URL=rabbitmq.url,
        SAHAB_OIDC_ISSUER=issuer.url,
        SAHAB_DATA_DIR=str(tmp_path / "data"),
        SAHAB_DEMO_ACCOUNTS="false",
        SAHAB_PROVISIONER="unavailable",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        SAHAB_ALERT_WEBHOOK_ALLOWED_TARGETS=json.dumps(["127.0.0.1/32"]),
        SAHAB_ALERT_WEBHOOK_TIMEOUT_SECONDS="1",
        SAHAB_ALERT_WEBHOOK_ATTEMPTS="2",
        SAHAB_ALERT_WEBHOOK_BACKOFF_SECONDS="1",
    )
    log = tmp_path / "worker.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "api.server", "worker", "--concurrency", "2"],
        env=env,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield log
    finally:
        stop([process])


def organisation_with_webhook(sessions, url: str) -> str:
    with transaction(sessions) as session:
        org = factories.organisation(session)
        org.alert_webhook_url, org.alert_webhook_secret = url, "s3cret"
        return org.id


def wait_for_state(sessions, delivery_id: str, states: set[str], timeout: float, log: Path) -> WebhookDelivery:
    def reached() -> WebhookDelivery | None:
        with transaction(sessions) as session:
            delivery = session.get_one(WebhookDelivery, delivery_id)
        return delivery if delivery.state in states else None

    try:
        return wait_until(reached, timeout, f"delivery {delivery_id} reaching {sorted(states)}", interval=0.2)
    except AssertionError as late:
        raise AssertionError(f"{late}; worker log: {log.read_text(errors='replace')[-3000:]}") from None


def test_a_worker_delivers_and_a_stalling_receiver_delays_no_one_else(
    sessions, worker, rabbitmq, postgres_url, tmp_path
):
    queue = CeleryQueue(
        create_celery(Settings(database_url=postgres_url, broker_url=rabbitmq.url, data_dir=tmp_path / "c"))
    )
    receiver = Receiver()
    with receiver.serving() as server, dripping_receiver() as drip:
        stalling = organisation_with_webhook(sessions, f"http://127.0.0.1:{drip.port}/hook")
        healthy = organisation_with_webhook(sessions, f"{server.url}/hook")
        with transaction(sessions) as session:
            stalled_id, delivered_id = enqueue_alerts(
                session,
                queue,
                [Alert(stalling, {"threshold": 80}), Alert(healthy, {"threshold": 90})],
                SystemClock().now(),
            )
        delivered = wait_for_state(sessions, delivered_id, {"delivered", "failed"}, 60, worker)
        assert delivered.state == "delivered" and len(receiver.received) == 1
        # Two attempts of at most 1 s each, 1 s apart: failed and kept.
        stalled = wait_for_state(sessions, stalled_id, {"failed"}, 60, worker)
        assert stalled.attempts == 2 and "no complete answer within 1s" in stalled.last_error


def test_a_task_lost_while_the_broker_was_down_is_sent_by_reconcile(sessions, worker, rabbitmq, postgres_url, tmp_path):
    down = CeleryQueue(
        create_celery(
            Settings(
                database_url=postgres_url,
                broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//",
                data_dir=tmp_path / "down",
            )
        )
    )
    down.app.conf.broker_connection_max_retries = 1
    down.app.conf.broker_transport_options = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1}
    receiver = Receiver()
    with receiver.serving() as server:
        org = organisation_with_webhook(sessions, f"{server.url}/hook")
        with transaction(sessions) as session:
            [lost] = enqueue_alerts(session, down, [Alert(org, {"threshold": 80})], SystemClock().now())
        with transaction(sessions) as session:
            assert session.get_one(WebhookDelivery, lost).state == "pending"  # committed; only the task was lost
        up = CeleryQueue(
            create_celery(Settings(database_url=postgres_url, broker_url=rabbitmq.url, data_dir=tmp_path / "up"))
        )
        reconciler = WebhookDeliverer(
            sessions, SystemClock(), up, TargetPolicy(), DeliveryRules(reconcile_grace=timedelta(0))
        )
        assert reconciler.reconcile() == [lost]
        assert wait_for_state(sessions, lost, {"delivered", "failed"}, 60, worker).state == "delivered"
    assert len(receiver.received) == 1
