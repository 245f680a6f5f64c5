"""Queue depth and age of the oldest message: the embedded filesystem broker and a real RabbitMQ."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest

from controlplane.observability.queues import QueueCollector
from controlplane.settings import Settings
from controlplane.tasks.celery_app import CeleryQueue, create_celery
from tests.support.metrics import value
from tests.support.waiting import wait_until


def _seconds(stamp: datetime | int) -> float:
    """py-amqp gives a received timestamp back as a naive UTC datetime."""
    return stamp.replace(tzinfo=UTC).timestamp() if isinstance(stamp, datetime) else float(stamp)


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


def test_rabbitmq_depth_consumers_and_oldest_message_age(rabbitmq):
    """Depth and consumers from a passive declare; the age of the oldest message from the management API's
    head_message_timestamp, which is the timestamp every Sahab producer stamps on its task messages."""
    app = create_celery(Settings(broker_url=rabbitmq.url))
    name = f"obs-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = name
    collector = QueueCollector.for_celery(app, rabbitmq.management_url)
    assert collector is not None and collector.queue == name
    empty = scrape(collector)
    assert value(empty, "sahab_queue_messages", queue=name) == 0  # not declared yet
    assert value(empty, "sahab_queue_oldest_message_age_seconds", queue=name) == 0
    queue = CeleryQueue(app)
    sent = time.time()
    for request_id in ("r-1", "r-2", "r-3"):
        queue.provision(request_id)
    later = QueueCollector(
        collector.broker_url, {}, name, management_url=rabbitmq.management_url, wall=lambda: time.time() + 60
    )
    try:

        def counted() -> str | None:  # RabbitMQ's management statistics lag the queue (every 0.5 s in the test broker)
            text = scrape(later)
            ready = (
                "sahab_queue_oldest_message_age_seconds{" in text
                and value(text, "sahab_queue_messages", queue=name) == 3
                and value(text, "sahab_queue_oldest_message_age_seconds", queue=name) > 0
            )
            return text if ready else None

        text = wait_until(counted, 20, "the management API counting the 3 messages", interval=0.2)
        assert value(text, "sahab_broker_up") == 1
        assert value(text, "sahab_queue_consumers", queue=name) == 0
        age = value(text, "sahab_queue_oldest_message_age_seconds", queue=name)
        assert 59 <= age <= 60 + (time.time() - sent) + 1, age  # AMQP timestamps are whole seconds
        with app.connection_for_read() as connection:  # the stamp is on the message itself, which nobody took
            message = connection.SimpleQueue(name).get(timeout=2)
            assert abs(_seconds(message.properties["timestamp"]) - sent) < 2
            assert not message.delivery_info["redelivered"]
            message.requeue()
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(name)


def test_management_api_unreachable_leaves_the_age_out_but_keeps_the_depth(rabbitmq):
    app = create_celery(Settings(broker_url=rabbitmq.url))
    collector = QueueCollector.for_celery(app, "http://sahab:sahab@127.0.0.1:1")
    text = scrape(collector)
    assert value(text, "sahab_broker_up") == 1 and "sahab_queue_messages{" in text
    assert "sahab_queue_oldest_message_age_seconds{" not in text
