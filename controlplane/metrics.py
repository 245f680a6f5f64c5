"""Prometheus metrics. Counters and histograms work across several API and worker
processes through prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR,
set before this module is imported). Capacity, granted and free quota are read
from the database at scrape time by one GROUP-BY-sized query, so every API
process reports the same values. Labels never carry users or request ids."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from controlplane.domain.regions import Catalogue
from controlplane.domain.resources import Amounts, Resource

REQUEST_TRANSITIONS = Counter(
    "sahab_request_transitions_total", "Quota request state transitions.", ["to_state", "organisation_kind"]
)
ADMISSION_DECISIONS = Counter(
    "sahab_admission_decisions_total", "Admission and approval-policy decisions.", ["outcome"]
)
PROVISIONING_DURATION = Histogram(
    "sahab_provisioning_duration_seconds", "Duration of provisioning operations.", ["operation", "outcome"],
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
TASK_FAILURES = Counter("sahab_task_failures_total", "Worker tasks that ended in an error.", ["task"])

# Exported in base units (Prometheus convention): MiB and GiB become bytes.
_BASE_UNIT = {Resource.RAM_MIB: ("ram_bytes", 2**20), Resource.VOLUME_GIB: ("volume_bytes", 2**30)}


def resource_label(resource: Resource) -> str:
    return _BASE_UNIT.get(resource, (resource.value, 1))[0]


def in_base_units(resource: Resource, amount: float) -> float:
    return amount * _BASE_UNIT.get(resource, (resource.value, 1))[1]


class CapacityCollector(Collector):
    """capacity / granted / free per region and resource, from the catalogue and the grants."""

    def __init__(self, catalogue: Catalogue, granted_by_region: Callable[[], dict[str, Amounts]]) -> None:
        self._catalogue = catalogue
        self._granted_by_region = granted_by_region

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["region", "resource"]
        capacity = GaugeMetricFamily("sahab_region_capacity", "Grantable capacity: raw capacity times overcommit.", labels=labels)
        raw = GaugeMetricFamily("sahab_region_raw_capacity", "Raw capacity from the region catalogue.", labels=labels)
        granted = GaugeMetricFamily("sahab_region_granted", "Quota granted to projects (approved to active).", labels=labels)
        free = GaugeMetricFamily("sahab_region_free", "Capacity not yet granted.", labels=labels)
        granted_now = self._granted_by_region()
        for region in self._catalogue.regions:
            effective, raw_amounts = region.effective_capacity(), region.raw_capacity()
            region_granted = granted_now.get(region.id, {})
            for resource in Resource:
                label = [region.id, resource_label(resource)]
                given = region_granted.get(resource, 0)
                capacity.add_metric(label, in_base_units(resource, effective[resource]))
                raw.add_metric(label, in_base_units(resource, raw_amounts[resource]))
                granted.add_metric(label, in_base_units(resource, given))
                free.add_metric(label, in_base_units(resource, max(effective[resource] - given, 0)))
        yield from (capacity, raw, granted, free)

    def describe(self) -> list[Any]:
        return []


def render(extra: list[Collector]) -> bytes:
    """The /metrics payload: every process's counters plus the given live collectors."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        base = generate_latest(registry)
    else:
        base = generate_latest(REGISTRY)
    live = CollectorRegistry()
    for collector in extra:
        live.register(collector)
    return base + generate_latest(live)
