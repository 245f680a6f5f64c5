"""The API's observability, installed by one call in create_app: HTTP metrics per route template
and status class (prometheus-fastapi-instrumentator, multiprocess-safe), a request id on every
request (X-Request-ID, echoed, and in every log line), one access log line per request when logs
are JSON, the queue's depth on /metrics, this process's CPU/memory/open files, and traces when an
OTLP endpoint is set."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.metrics import Info

from controlplane.observability import logs, process, tracing
from controlplane.observability.queues import QueueCollector

# The API's target is p99 <= 100 ms: buckets are dense around it so the latency SLO
# (share of requests slower than 100 ms) is read from the le="0.1" bucket exactly.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter(
    "sahab_http_requests_total",
    "HTTP requests by route template, method and status class (2xx, 4xx, 5xx).",
    ["handler", "method", "status"],
)
HTTP_DURATION = Histogram(
    "sahab_http_request_duration_seconds",
    "HTTP request duration by route template, method and status class.",
    ["handler", "method", "status"],
    buckets=HTTP_BUCKETS,
)

access_log = logging.getLogger("sahab.access")
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


# Labelled children by (handler, method, status): `labels()` costs more than the increment itself.
# Bounded: route templates x methods x five status classes.
_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def _record(info: Info) -> None:
    key = (info.modified_handler, info.method, info.modified_status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (HTTP_REQUESTS.labels(*key), HTTP_DURATION.labels(*key))
    children[0].inc()
    children[1].observe(info.modified_duration)


class RequestIdMiddleware:
    """Takes a well-formed X-Request-ID from the client or makes one, echoes it, and keeps it in a
    context variable for the log lines of this request. Logs one access line when asked to."""

    def __init__(self, app: Any, access_lines: bool) -> None:
        self.app = app
        self.access_lines = access_lines

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _VALID_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = logs.REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # The server logs the exception after this returns, in this request's own task: leave the
            # request id set and keep the trace id for that line (the task ends with the request).
            logs.FAILED_TRACE_ID.set(tracing.current_trace_id())
            self._access_line(scope, status, started)
            raise
        self._access_line(scope, status, started)
        logs.REQUEST_ID.reset(token)

    def _access_line(self, scope: dict[str, Any], status: int, started: float) -> None:
        if self.access_lines:
            route = scope.get("route")
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "route": getattr(route, "path", None),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )


def instrument_api(app: FastAPI, runtime: Any) -> None:
    settings = runtime.settings
    logs.configure(settings.log_format, settings.log_level)
    queue_app = getattr(runtime.deps.queue, "app", None)
    collector = QueueCollector.for_celery(queue_app, settings.broker_management_url) if queue_app is not None else None
    if collector is not None and not any(isinstance(c, QueueCollector) for c in runtime.collectors):
        runtime.collectors.append(collector)
    process.start_sampling("api", settings.process_metrics_interval_seconds)
    if settings.http_metrics:
        Instrumentator(
            should_group_status_codes=True, should_group_untemplated=True, excluded_handlers=["^/metrics$"]
        ).add(_record).instrument(app)
        app.add_middleware(RequestIdMiddleware, access_lines=settings.log_format == "json")
    if tracing.configure(settings, "sahab-api"):
        # Loaded only when tracing is on, like every instrumentation (controlplane.observability.tracing).
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="/metrics,/healthz,/readyz")
        tracing.instrument_engine(runtime.engine)
