"""Queue depth and the age of the oldest waiting message, read at scrape time by the API.

Depth comes from `queue_declare(passive=True)` on any kombu transport (RabbitMQ answers with its
message and consumer counts; the filesystem and Redis transports count their messages). The age of
the oldest message is read where the broker keeps it cheaply: the embedded filesystem broker's files
(one file a message, its mtime is when it was sent). RabbitMQ does not tell it through AMQP, so there
only depth and consumers are exported (alert on a growing depth)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class QueueCollector(Collector):
    def __init__(self, broker_url: str, transport_options: dict[str, Any], queue: str = "sahab", *,
                 timeout: float = 2.0, wall: Callable[[], float] = time.time) -> None:
        self.broker_url = broker_url
        self.transport_options = transport_options
        self.queue = queue
        self.timeout = timeout
        self._wall = wall

    @classmethod
    def for_celery(cls, app: Any) -> "QueueCollector | None":
        """None for the in-process memory transport: another process cannot see its queue."""
        url = app.conf.broker_url or ""
        if url.startswith("memory://"):
            return None
        return cls(url, dict(app.conf.broker_transport_options or {}), app.conf.task_default_queue or "celery")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("sahab_broker_up", "1 when the broker answered the last queue read at scrape time.")
        depth = GaugeMetricFamily("sahab_queue_messages", "Task messages waiting in the queue (not yet taken by a worker).",
                                  labels=["queue"])
        consumers = GaugeMetricFamily("sahab_queue_consumers", "Consumers (worker connections) on the queue, where the broker counts them.",
                                      labels=["queue"])
        age = GaugeMetricFamily("sahab_queue_oldest_message_age_seconds",
                                "Age of the oldest waiting message (0 when the queue is empty).", labels=["queue"])
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
        if oldest is not None:
            age.add_metric([self.queue], oldest)
            yield age

    def _declare_passive(self) -> tuple[int, int]:
        from kombu import Connection  # type: ignore[attr-defined]

        with Connection(self.broker_url, transport_options=self.transport_options, connect_timeout=self.timeout) as connection:  # type: ignore[no-untyped-call]
            connection.ensure_connection(max_retries=1, timeout=self.timeout)
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
