"""The counters and histograms that services move as things happen. A leaf: anything may import it,
and it imports nothing of Sahab (the collectors read at scrape time are in controlplane.metrics).
With PROMETHEUS_MULTIPROC_DIR set before this module is imported, they work across processes."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUEST_TRANSITIONS = Counter(
    "sahab_request_transitions_total", "Quota request state transitions.", ["to_state", "organisation_kind"]
)
ADMISSION_DECISIONS = Counter(
    "sahab_admission_decisions_total", "Admission and approval-policy decisions.", ["outcome"]
)
PROVISIONING_DURATION = Histogram(
    "sahab_provisioning_duration_seconds",
    "Duration of provisioning operations.",
    ["operation", "outcome"],
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
TASK_FAILURES = Counter("sahab_task_failures_total", "Worker tasks that ended in an error.", ["task"])
TOTALS_REPAIRS = Counter(
    "sahab_region_totals_repairs_total",
    "Times the invariant check found a region's running totals different from its projects and repaired them (should stay 0).",
    ["region"],
)
