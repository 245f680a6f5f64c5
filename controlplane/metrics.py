"""The Prometheus exposition: every process's counters (controlplane.observability.counters, shared
through prometheus-client's multiprocess mode) plus the live collectors below. Capacity, granted and free quota are read
at scrape time from the regions' running totals (one row per region, see
controlplane.capacity), so every API process reports the same values. Labels never carry users or request ids."""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, multiprocess, start_http_server
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from controlplane.capacity import RegionCapacity
from controlplane.domain.regions import Catalogue
from controlplane.domain.resources import Resource
from controlplane.metering import readmodel
from controlplane.persistence.database import transaction

log = logging.getLogger(__name__)

# Exported in base units (Prometheus convention): MiB and GiB become bytes.
_BASE_UNIT = {
    Resource.RAM_MIB: ("ram_bytes", 2**20),
    Resource.VOLUME_GIB: ("volume_bytes", 2**30),
    Resource.OBJECT_GIB: ("object_bytes", 2**30),
}


def resource_label(resource: Resource) -> str:
    return _BASE_UNIT.get(resource, (resource.value, 1))[0]


def in_base_units(resource: Resource, amount: float) -> float:
    return amount * _BASE_UNIT.get(resource, (resource.value, 1))[1]


class CapacityCollector(Collector):
    """capacity / granted / free per region and resource: the regions' read model (the same one
    GET /v1/regions serves) turned into gauges."""

    def __init__(self, read: Callable[[], list[RegionCapacity]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["region", "resource"]
        capacity = GaugeMetricFamily(
            "sahab_region_capacity", "Grantable capacity: raw capacity times overcommit.", labels=labels
        )
        raw = GaugeMetricFamily("sahab_region_raw_capacity", "Raw capacity from the region catalogue.", labels=labels)
        granted = GaugeMetricFamily(
            "sahab_region_granted", "Quota granted to projects (approved to active).", labels=labels
        )
        free = GaugeMetricFamily("sahab_region_free", "Capacity not yet granted.", labels=labels)
        for view in self._read():
            for resource, amounts in view.resources.items():
                label = [view.region.id, resource_label(resource)]
                capacity.add_metric(label, in_base_units(resource, amounts.capacity))
                raw.add_metric(label, in_base_units(resource, amounts.raw_capacity))
                granted.add_metric(label, in_base_units(resource, amounts.granted))
                free.add_metric(label, in_base_units(resource, amounts.free))
        yield from (capacity, raw, granted, free)

    def describe(self) -> list[Any]:
        return []


class TolerantMultiProcessCollector(multiprocess.MultiProcessCollector):
    """A process killed while growing its metrics file leaves that file unreadable, and
    prometheus_client then fails the whole scrape. Skip such a file (with a warning) instead: the
    other processes' metrics stay visible, and the dead process's counters are lost either way."""

    def collect(self) -> Any:
        files = glob.glob(os.path.join(self._path, "*.db"))
        try:
            return self.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        except Exception:  # noqa: BLE001 - whatever prometheus_client makes of a torn file
            readable = []
            for path in files:
                try:
                    self._read_metrics([path])  # type: ignore[no-untyped-call]
                    readable.append(path)
                except Exception as error:  # noqa: BLE001
                    log.warning("metrics file %s is unreadable and is skipped: %s", path, error)
            return self.merge(readable, accumulate=True)  # type: ignore[no-untyped-call]


def serve_process_metrics(port: int) -> None:
    """Serve this machine's (or pod's) multiprocess counters on a port: for worker pods, whose
    metrics directory the API pods cannot read."""
    registry = CollectorRegistry()
    TolerantMultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, registry=registry)


def render(extra: list[Collector]) -> bytes:
    """The /metrics payload: every process's counters plus the given live collectors."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        TolerantMultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        base = generate_latest(registry)
    else:
        base = generate_latest(REGISTRY)
    live = CollectorRegistry()
    for collector in extra:
        live.register(collector)
    return base + generate_latest(live)


# -- metering: read from the rows the last collection stored, never from a cloud ------

# openstack-exporter's names for the same quantities, so existing dashboards carry over:
# Sahab resource -> (metric stem, unit suffix for max/used) for Nova and Cinder limits.
_EXPORTER_LIMITS = {
    Resource.VCPUS: ("openstack_nova_limits_vcpus", "max", "used"),
    Resource.RAM_MIB: ("openstack_nova_limits_memory", "max", "used"),
    Resource.INSTANCES: ("openstack_nova_limits_instances", "max", "used"),
    Resource.VOLUME_GIB: ("openstack_cinder_limits_volume", "max_gb", "used_gb"),
}
# Neutron: openstack_neutron_quota_<field>{tenant, type="limit"|"used"}
_EXPORTER_NEUTRON = {
    Resource.NETWORKS: "network",
    Resource.SUBNETS: "subnet",
    Resource.PORTS: "port",
    Resource.ROUTERS: "router",
    Resource.FLOATING_IPS: "floatingip",
    Resource.SECURITY_GROUPS: "security_group",
    Resource.SECURITY_GROUP_RULES: "security_group_rule",
}
# Names promtool's linter flags that are kept on purpose (openstack-exporter compatibility).
EXPORTER_COMPATIBLE_NAMES = frozenset(
    [f"{stem}_{suffix}" for stem, a, b in _EXPORTER_LIMITS.values() for suffix in (a, b)]
    + [f"openstack_neutron_quota_{field}" for field in _EXPORTER_NEUTRON.values()]
)


class MeteringMetrics(Collector):
    """Usage, Placement capacity, drift, requests by state and age, metering freshness; and, when
    `per_project` is set, each project's quota and usage under openstack-exporter's names.
    Everything comes from the metering read model (controlplane.metering.readmodel) over stored rows."""

    def __init__(self, sessions: Any, catalogue: Catalogue, clock: Any, *, per_project: bool = False) -> None:
        self._sessions = sessions
        self._catalogue = catalogue
        self._clock = clock
        self.per_project = per_project
        self._view: readmodel.MeteringView | None = None  # its sums hold until the next collection

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._clock.now()
        labels = ["region", "resource"]
        used = GaugeMetricFamily(
            "sahab_region_used", "Usage measured on the cloud, summed over the region's active projects.", labels=labels
        )
        unused = GaugeMetricFamily("sahab_region_unused", "Grantable capacity minus measured usage.", labels=labels)
        placement = GaugeMetricFamily(
            "sahab_region_placement_capacity",
            "Capacity from Placement inventories: (total - reserved) x allocation ratio.",
            labels=labels,
        )
        placement_used = GaugeMetricFamily("sahab_region_placement_used", "Usage from Placement.", labels=labels)
        drift = GaugeMetricFamily(
            "sahab_drift",
            "Inconsistencies found by the last collection (granted vs cloud quota vs usage).",
            labels=["region", "kind"],
        )
        errors = GaugeMetricFamily(
            "sahab_metering_project_errors", "Active projects whose last read failed.", labels=["region"]
        )
        requests = GaugeMetricFamily("sahab_requests", "Quota requests by state (non-final states).", labels=["state"])
        oldest = GaugeMetricFamily(
            "sahab_request_oldest_age_seconds",
            "Age of the oldest request in each non-final state, since its last change.",
            labels=["state"],
        )
        last_run = GaugeMetricFamily(
            "sahab_metering_last_run_timestamp_seconds", "When the last metering collection finished."
        )
        last_duration = GaugeMetricFamily(
            "sahab_metering_last_run_duration_seconds", "Duration of the last metering collection."
        )
        last_failures = GaugeMetricFamily(
            "sahab_metering_last_run_failures", "Projects and regions the last collection could not read."
        )
        age = GaugeMetricFamily("sahab_metering_data_age_seconds", "Age of the newest stored usage reading.")
        families = [
            used,
            unused,
            placement,
            placement_used,
            drift,
            errors,
            requests,
            oldest,
            last_run,
            last_duration,
            last_failures,
            age,
        ]

        with transaction(self._sessions) as session:
            view = self._view = readmodel.read(session, self._catalogue, self._view, projects=self.per_project)
        for region in view.regions:
            for resource in Resource:
                label = [region.region.id, resource_label(resource)]
                used.add_metric(label, in_base_units(resource, region.used[resource]))
                unused.add_metric(label, in_base_units(resource, region.unused[resource]))
            for resource, (total, taken) in region.placement.items():
                label = [region.region.id, resource_label(resource)]
                placement.add_metric(label, in_base_units(resource, total))
                placement_used.add_metric(label, in_base_units(resource, taken))
            for kind, count in region.drift.items():
                drift.add_metric([region.region.id, kind], count)
            errors.add_metric([region.region.id], region.errors)
        run, newest = view.run, view.newest_reading
        for state, count, since in view.waiting:
            requests.add_metric([state], count)
            oldest.add_metric([state], max((now - since).total_seconds(), 0.0))
        if run is not None:
            last_run.add_metric([], run.finished_at.timestamp())
            last_duration.add_metric([], run.duration_seconds)
            last_failures.add_metric([], run.failures)
        if newest is not None:
            age.add_metric([], max((now - newest).total_seconds(), 0.0))
        yield from families
        if self.per_project:
            yield from self._per_project(view.projects)

    def _per_project(self, rows: list[Any]) -> Iterator[GaugeMetricFamily]:
        tenant = ["tenant", "tenant_id", "region", "project"]
        limits: dict[str, GaugeMetricFamily] = {}
        for stem, max_suffix, used_suffix in _EXPORTER_LIMITS.values():
            for suffix in (max_suffix, used_suffix):
                name = f"{stem}_{suffix}"
                limits[name] = GaugeMetricFamily(
                    name, f"{name} (openstack-exporter compatible; from Sahab's last collection)", labels=tenant
                )
        neutron = {
            field: GaugeMetricFamily(
                f"openstack_neutron_quota_{field}",
                f"quota_{field} (openstack-exporter compatible)",
                labels=["tenant", "tenant_id", "region", "project", "type"],
            )
            for field in _EXPORTER_NEUTRON.values()
        }
        quota = GaugeMetricFamily(
            "sahab_project_quota",
            "Quota seen on the cloud per project (base units).",
            labels=["project", "organisation", "region", "resource"],
        )
        usage = GaugeMetricFamily(
            "sahab_project_used",
            "Usage per project (base units).",
            labels=["project", "organisation", "region", "resource"],
        )
        granted = GaugeMetricFamily(
            "sahab_project_granted",
            "Quota granted by Sahab per project (base units).",
            labels=["project", "organisation", "region", "resource"],
        )
        for row in rows:
            # openstack-exporter's `tenant` is the Keystone project's name, as the collection read it.
            ident = [row.openstack_project_name or "", row.openstack_project_id or "", row.region_id, row.id]
            for resource in Resource:
                label = [row.id, row.organisation_id, row.region_id, resource_label(resource)]
                granted.add_metric(label, in_base_units(resource, int((row.granted or {}).get(resource.value, 0))))
            if row.quota is None:
                continue
            for resource in Resource:
                label = [row.id, row.organisation_id, row.region_id, resource_label(resource)]
                quota.add_metric(label, in_base_units(resource, row.quota.get(resource.value, 0)))
                usage.add_metric(label, in_base_units(resource, (row.used or {}).get(resource.value, 0)))
            for resource, (stem, max_suffix, used_suffix) in _EXPORTER_LIMITS.items():
                limits[f"{stem}_{max_suffix}"].add_metric(ident, row.quota.get(resource.value, 0))
                limits[f"{stem}_{used_suffix}"].add_metric(ident, (row.used or {}).get(resource.value, 0))
            for resource, field in _EXPORTER_NEUTRON.items():
                neutron[field].add_metric([*ident, "limit"], row.quota.get(resource.value, 0))
                neutron[field].add_metric([*ident, "used"], (row.used or {}).get(resource.value, 0))
        yield from limits.values()
        yield from neutron.values()
        yield from (quota, usage, granted)

    def describe(self) -> list[Any]:
        return []
