"""One in-memory span exporter for the test process (OpenTelemetry's provider is process-wide)."""

from __future__ import annotations

from functools import lru_cache

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from controlplane.observability import tracing


@lru_cache
def memory_exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    tracing.install_provider("sahab-test", SimpleSpanProcessor(exporter))
    tracing.instrument_libraries()
    return exporter
