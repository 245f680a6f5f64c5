"""Queue depth and the age of the oldest waiting message, read at scrape time by the API.

Depth comes from `queue_declare(passive=True)` on any kombu transport (RabbitMQ answers with its
message and consumer counts; the filesystem and Redis transports count their messages). The age of
the oldest message is read where the broker keeps it without taking the message:
- the embedded filesystem broker: one file a message, its mtime is when it was sent;
- RabbitMQ: its management API's `head_message_timestamp`, the AMQP `timestamp` property of the message
  at the head of the queue. Celery sets no timestamp, so every process that publishes stamps its
  messages (`stamp_publish_times`, connected by `create_celery`). Whole seconds (AMQP's resolution).
  Peeking over AMQP instead (basic_get, then requeue) would mark the message redelivered."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from celery import signals
from kombu import Connection  # type: ignore[attr-defined]
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

_stamping = threading.Lock()
_stamped = False


def stamp_sent_time(properties: dict[str, Any] | None = None, **_: Any) -> None:
    """before_task_publish: the AMQP `timestamp` property (when the message was sent) unless the sender set one."""
    if properties is not None and properties.get("timestamp") is None:
        properties["timestamp"] = int(time.time())  # AMQP's timestamp: whole seconds since the epoch


def stamp_publish_times() -> None:
    """Stamp every task message this process publishes (Celery's signals are process-wide: once)."""
    global _stamped
    with _stamping:
        if _stamped:
            return
        signals.before_task_publish.connect(stamp_sent_time, weak=False)
        _stamped = True


class QueueCollector(Collector):
    def __init__(
        self,
        broker_url: str,
        transport_options: dict[str, Any],
        queue: str = "sahab",
        *,
        management_url: str = "",
        timeout: float = 2.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.broker_url = broker_url
        self.transport_options = transport_options
        self.queue = queue
        self.management_url = management_url
        self.timeout = timeout
        self._wall = wall

    @classmethod
    def for_celery(cls, app: Any, management_url: str = "") -> QueueCollector | None:
        """None for the in-process memory transport: another process cannot see its queue."""
        url = app.conf.broker_url or ""
        if url.startswith("memory://"):
            return None
        return cls(
            url,
            dict(app.conf.broker_transport_options or {}),
            app.conf.task_default_queue or "celery",
            management_url=management_url,
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("sahab_broker_up", "1 when the broker answered the last queue read at scrape time.")
        depth = GaugeMetricFamily(
            "sahab_queue_messages", "Task messages waiting in the queue (not yet taken by a worker).", labels=["queue"]
        )
        consumers = GaugeMetricFamily(
            "sahab_queue_consumers",
            "Consumers (worker connections) on the queue, where the broker counts them.",
            labels=["queue"],
        )
        age = GaugeMetricFamily(
            "sahab_queue_oldest_message_age_seconds",
            "Age of the oldest waiting message (0 when the queue is empty).",
            labels=["queue"],
        )
        try:
            count, consumer_count = self._declare_passive()
        except Exception as error:  # an unreachable broker is a value (broker_up 0), not a failed scrape
            log.warning("cannot read the depth of queue %s: %s", self.queue, error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        depth.add_metric([self.queue], count)
        yield from (up, depth)
        if not self.broker_url.startswith("filesystem://"):
            consumers.add_metric([self.queue], consumer_count)
            yield consumers
        oldest = self._oldest_filesystem_message()
        if oldest is None and self.management_url:
            oldest = self._oldest_rabbitmq_message(count)
        if oldest is not None:
            age.add_metric([self.queue], oldest)
            yield age

    def _declare_passive(self) -> tuple[int, int]:

        with Connection(
            self.broker_url, transport_options=self.transport_options, connect_timeout=self.timeout
        ) as connection:  # type: ignore[no-untyped-call]
            connection.ensure_connection(max_retries=0, timeout=self.timeout)  # a retry would sleep 2 s mid-scrape
            try:
                _, count, consumer_count = connection.default_channel.queue_declare(queue=self.queue, passive=True)
            except Exception as error:
                if getattr(error, "code", None) == 404:  # not declared yet: nothing was ever sent or consumed
                    return 0, 0
                raise
            return int(count), int(consumer_count)

    def _oldest_filesystem_message(self) -> float | None:
        if not self.broker_url.startswith("filesystem://"):
            return None
        folder = self.transport_options.get("data_folder_in")
        if not folder:
            return None
        suffix = f".{self.queue}.msg"
        oldest: float | None = None
        for path in Path(folder).iterdir():
            if path.name.endswith(suffix):
                try:
                    mtime = path.stat().st_mtime
                except FileNotFoundError:  # taken by a worker meanwhile
                    continue
                oldest = mtime if oldest is None else min(oldest, mtime)
        return 0.0 if oldest is None else max(self._wall() - oldest, 0.0)

    def _oldest_rabbitmq_message(self, depth: int) -> float | None:
        """From the management API (its figures lag the queue by the statistics interval, 5 s by default).
        None when it cannot tell: not answering, or a head message without a timestamp."""

        vhost = Connection(self.broker_url).virtual_host or "/"  # type: ignore[no-untyped-call]
        parts = urlsplit(self.management_url)
        base = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path.rstrip('/')}"
        auth = (parts.username or "", parts.password or "") if parts.username else None
        try:
            response = httpx.get(
                f"{base}/api/queues/{quote(vhost, safe='')}/{quote(self.queue, safe='')}",
                auth=auth,
                timeout=self.timeout,
            )
            if response.status_code == 404:  # not declared yet
                return 0.0
            response.raise_for_status()
            queue = response.json()
        except Exception as error:  # the age is then missing from the scrape; depth is still there
            log.warning(
                "cannot read the oldest message of queue %s from RabbitMQ's management API: %s",
                self.queue,
                type(error).__name__,
            )
            return None
        head = queue.get("head_message_timestamp")
        if isinstance(head, (int, float)):
            return max(self._wall() - head, 0.0)
        return 0.0 if depth == 0 else None
