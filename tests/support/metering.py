"""A CloudReader double: per OpenStack project its quota and usage (Sahab resource names), answered
the way the real reader reads them (usage per listing, Neutron quotas in bulk, Nova and Cinder quotas
per project), with optional slowness and failures per call."""

from __future__ import annotations

import threading
import time

from controlplane.domain.resources import Resource
from controlplane.metering.reader import LISTINGS
from controlplane.ports import GIB, BulkQuotas, CapacityReading, ObjectAccount, ProjectReading, Usage

# Each resource is counted by one listing here (the real volume_gib is summed over two).
_LISTING_OF = {}
for _listing in LISTINGS:
    for _resource in sorted(_listing.resources):
        _LISTING_OF.setdefault(_resource, _listing.name)


class FakeCloud:
    def __init__(self, capacity: dict[str, int] | None = None) -> None:
        self.projects_read: dict[str, ProjectReading] = {}
        self.names: dict[str, str] = {}
        self.capacity = capacity or {"vcpus": 16, "ram_mib": 32768}
        # call key -> error / seconds: "list", "capacity", "bulk-quotas", a listing's name, or an
        # OpenStack project id (its quota read); "*" delays every call.
        self.fail: dict[str, Exception] = {}
        self.delay: dict[str, float] = {}
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def set(self, openstack_id: str, quota: dict[str, int], used: dict[str, int], name: str | None = None) -> None:
        self.projects_read[openstack_id] = ProjectReading(quota=dict(quota), used=dict(used))
        self.names[openstack_id] = name or f"sahab-fake-{openstack_id}"

    def quota_reads(self) -> list[str]:
        return [key for key in self.calls if key in self.projects_read]

    def _maybe(self, key: str) -> None:
        with self.lock:
            self.calls.append(key)
        pause = self.delay.get(key, self.delay.get("*", 0.0))
        if pause:
            time.sleep(pause)  # time itself: a slow cloud, for the collector's deadline
        if key in self.fail:
            raise self.fail[key]

    def _part(self, quota: dict[str, int], services: set[str]) -> dict[str, int]:
        return {name: value for name, value in quota.items() if Resource(name).service in services}

    def projects(self, domain_id: str) -> dict[str, str]:
        self._maybe("list")
        return {pid: self.names[pid] for pid in self.projects_read}

    def read_usage(self, listing: str) -> Usage:
        self._maybe(listing)
        return {
            pid: {name: value for name, value in reading.used.items() if _LISTING_OF.get(name) == listing}
            for pid, reading in self.projects_read.items()
        }

    def read_object_account(self, openstack_project_id: str) -> ObjectAccount:
        """The Swift account: object_gib quota and usage as set (0 when not), in bytes."""
        self._maybe(f"objects:{openstack_project_id}")
        reading = self.projects_read[openstack_project_id]
        used = reading.used.get("object_gib", 0)
        return ObjectAccount(
            quota_bytes=reading.quota.get("object_gib", 0) * GIB,
            bytes=used * GIB,
            objects=used,
            containers=1 if used else 0,
        )

    def read_bulk_quotas(self) -> BulkQuotas:
        self._maybe("bulk-quotas")
        return BulkQuotas(
            by_project={pid: self._part(reading.quota, {"network"}) for pid, reading in self.projects_read.items()},
            default={},
        )

    def read_quota(self, openstack_project_id: str) -> dict[str, int]:
        self._maybe(openstack_project_id)
        return self._part(self.projects_read[openstack_project_id].quota, {"compute", "block-storage"})

    def read_capacity(self) -> CapacityReading:
        self._maybe("capacity")
        return CapacityReading(capacity=dict(self.capacity), used={"vcpus": 1})
