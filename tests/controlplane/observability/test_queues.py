"""Queue depth and age of the oldest message: the embedded filesystem broker and a real RabbitMQ."""

from __future__ import annotations

import time
import uuid

from prometheus_client import CollectorRegistry, generate_latest

from controlplane.observability.queues import QueueCollector
from controlplane.settings import Settings
from controlplane.tasks.celery_app import CeleryQueue, create_celery
from tests.support.metrics import value


def scrape(collector: QueueCollector) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def test_filesystem_broker_depth_and_oldest_message_age(tmp_path):
    app = create_celery(Settings(data_dir=tmp_path, broker_url="filesystem://", demo_accounts=False))
    collector = QueueCollector.for_celery(app)
    assert collector is not None
    empty = scrape(collector)
    assert value(empty, "sahab_broker_up") == 1 and value(empty, "sahab_queue_messages", queue="sahab") == 0
    assert value(empty, "sahab_queue_oldest_message_age_seconds", queue="sahab") == 0

    queue = CeleryQueue(app)
    queue.provision("r-1")
    queue.repair("p-1")
    later = QueueCollector(collector.broker_url, collector.transport_options, "sahab", wall=lambda: time.time() + 60)
    text = scrape(later)
    assert value(text, "sahab_queue_messages", queue="sahab") == 2
    assert 60 <= value(text, "sahab_queue_oldest_message_age_seconds", queue="sahab") < 120


def test_memory_transport_has_no_queue_to_read():
    assert QueueCollector.for_celery(create_celery(Settings(broker_url="memory://"))) is None


def test_unreachable_broker_is_reported_not_raised():
    text = scrape(QueueCollector("amqp://nobody:x@127.0.0.1:1//", {}, "sahab", timeout=0.5))
    assert value(text, "sahab_broker_up") == 0 and "sahab_queue_messages" not in text


def test_rabbitmq_depth_and_consumers_from_a_passive_declare(rabbitmq):
    app = create_celery(Settings(broker_url=rabbitmq.url))
    name = f"obs-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = name
    collector = QueueCollector.for_celery(app)
    assert collector is not None and collector.queue == name
    assert value(scrape(collector), "sahab_queue_messages", queue=name) == 0  # not declared yet
    queue = CeleryQueue(app)
    for request_id in ("r-1", "r-2", "r-3"):
        queue.provision(request_id)
    try:
        deadline = time.monotonic() + 10
        while (text := scrape(collector)) and value(text, "sahab_queue_messages", queue=name) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # RabbitMQ's count may lag a publish by a moment
        assert value(text, "sahab_broker_up") == 1
        assert value(text, "sahab_queue_messages", queue=name) == 3
        assert value(text, "sahab_queue_consumers", queue=name) == 0
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(name)
