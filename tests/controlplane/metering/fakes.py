"""A CloudReader double: projects with quota/usage per OpenStack id, optional slowness and failures."""

from __future__ import annotations

import threading
import time

from controlplane.metering.reader import CapacityReading, ProjectReading


class FakeCloud:
    def __init__(self, capacity: dict[str, int] | None = None) -> None:
        self.projects: dict[str, ProjectReading] = {}
        self.capacity = capacity or {"vcpus": 16, "ram_mib": 32768}
        self.fail: dict[str, Exception] = {}     # openstack id (or "capacity", "list") -> error
        self.delay: dict[str, float] = {}        # openstack id (or "*") -> seconds
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def set(self, openstack_id: str, quota: dict[str, int], used: dict[str, int]) -> None:
        self.projects[openstack_id] = ProjectReading(quota=dict(quota), used=dict(used))

    def _maybe(self, key: str) -> None:
        with self.lock:
            self.calls.append(key)
        pause = self.delay.get(key, self.delay.get("*", 0.0))
        if pause:
            time.sleep(pause)
        if key in self.fail:
            raise self.fail[key]

    def project_ids(self, domain_id: str) -> set[str]:
        self._maybe("list")
        return set(self.projects)

    def read_project(self, openstack_project_id: str) -> ProjectReading:
        self._maybe(openstack_project_id)
        return self.projects[openstack_project_id]

    def read_capacity(self) -> CapacityReading:
        self._maybe("capacity")
        return CapacityReading(capacity=dict(self.capacity), used={"vcpus": 1})
