"""OpenTelemetry traces. Nothing is instrumented and nothing is sent unless an OTLP endpoint is
configured (SAHAB_OTLP_ENDPOINT) or a test installs its own exporter: an unconfigured process
pays for no-op spans only.

The trace context crosses from the API request to the Celery task it sends in the message
headers (Celery instrumentation), so one trace holds POST -> admission -> task -> Pulumi."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from controlplane.settings import Settings

_lock = threading.Lock()
_provider: TracerProvider | None = None
_libraries_instrumented = False


def install_provider(service: str, processor: SpanProcessor) -> TracerProvider:
    """Make `processor` receive this process's spans (once per process: OpenTelemetry's global
    provider cannot be replaced; a second call adds the processor to the first provider)."""
    global _provider
    with _lock:
        if _provider is None:
            _provider = TracerProvider(resource=Resource.create({"service.name": service}))
            trace.set_tracer_provider(_provider)
        _provider.add_span_processor(processor)
        return _provider


def otlp_exporter(endpoint: str) -> SpanExporter:
    # Loaded only when tracing is on: the exporter pulls in protobuf and requests, which nothing else needs.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=5)


def configure(settings: Settings, service: str) -> bool:
    """Export over OTLP/HTTP when an endpoint is set, and instrument the libraries; True when tracing is on."""
    if settings.otlp_endpoint:
        install_provider(service, BatchSpanProcessor(otlp_exporter(settings.otlp_endpoint)))
    if _provider is None:
        return False
    instrument_libraries()
    return True


def enabled() -> bool:
    return _provider is not None


def instrument_libraries() -> None:
    """Celery (publish and run, with context in the headers) and httpx. Process-wide, once. Database
    engines are traced one by one (`instrument_engine`): the SQLAlchemy instrumentor's global hook
    refuses SQLAlchemy 2.1 (its declared range ends below it), its engine tracer works with it."""
    global _libraries_instrumented
    with _lock:
        if _libraries_instrumented:
            return
        # The instrumentors load (and patch) their libraries only when tracing is on.
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        CeleryInstrumentor().instrument()  # type: ignore[no-untyped-call]
        HTTPXClientInstrumentor().instrument()
        _libraries_instrumented = True


def instrument_engine(engine: Any) -> None:
    """Trace the statements of one engine (the API's, a worker's), once."""
    if _provider is None or getattr(engine, "_sahab_traced", False):
        return
    # Only when tracing is on (a provider exists): the instrumentation is not loaded otherwise.
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter

    usage = get_meter("opentelemetry.instrumentation.sqlalchemy").create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )
    tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    EngineTracer(tracer, engine, usage)  # type: ignore[no-untyped-call]
    engine._sahab_traced = True


@contextmanager
def span(name: str, **attributes: str | int | float | bool) -> Iterator[Any]:
    """One span around an operation worth seeing in a trace (a Pulumi operation, an OpenStack read).
    A no-op span when tracing is off; an exception is recorded on the span and re-raised."""
    with trace.get_tracer("sahab").start_as_current_span(name, attributes=attributes) as current:
        yield current


def current_trace_id() -> str:
    """The current span's trace id as 32 hex digits, or "" outside a (recorded) trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def current_span_id() -> str:
    context = trace.get_current_span().get_span_context()
    return format(context.span_id, "016x") if context.is_valid else ""
