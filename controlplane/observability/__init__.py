"""Sahab as a service, seen by its operators: task and queue metrics, per-process
CPU/memory/open files, OpenTelemetry traces and JSON logs. HTTP metrics are in api/observability.py.

Every piece is switched on by one call from the process that owns it: `api.observability.instrument_api`
(API) and `controlplane.observability.worker.instrument_worker` (Celery worker)."""
