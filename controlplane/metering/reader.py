"""Reading one region's cloud: quota and usage per project (Nova, Cinder, Neutron) and capacity
(Placement). `CloudReader` is the seam: `OpenStackReader` is the real one (openstacksdk, one
authenticated connection per region, reused across collections); tests use a fake."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from controlplane.contract import QUOTA_FIELDS
from controlplane.domain.regions import Region
from controlplane.observability.tracing import span


@dataclass(frozen=True)
class ProjectReading:
    """Quota and usage of one OpenStack project, keyed by Sahab resource name (-1 = unlimited)."""

    quota: dict[str, int]
    used: dict[str, int]


@dataclass(frozen=True)
class CapacityReading:
    """What Placement says the region's compute providers offer: (total - reserved) x allocation ratio."""

    capacity: dict[str, int]
    used: dict[str, int] = field(default_factory=dict)


class CloudReader(Protocol):
    def project_ids(self, domain_id: str) -> set[str]:
        """The OpenStack project ids that exist in the domain (one call per collection)."""
        ...

    def read_project(self, openstack_project_id: str) -> ProjectReading: ...

    def read_capacity(self) -> CapacityReading: ...


ReaderFactory = Callable[[Region], CloudReader]

# Placement resource class -> Sahab resource
PLACEMENT_CLASSES = {"VCPU": "vcpus", "MEMORY_MB": "ram_mib"}


def _services_fields() -> dict[str, dict[str, str]]:
    by_service: dict[str, dict[str, str]] = {}
    for name, (service, api_field) in QUOTA_FIELDS.items():
        by_service.setdefault(service, {})[api_field] = name
    return by_service


SERVICE_FIELDS = _services_fields()


def parse_compute(body: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """Nova /os-quota-sets/{id}/detail: {field: {limit, in_use, reserved}}."""
    return _parse(body["quota_set"], SERVICE_FIELDS["compute"], "in_use")


def parse_block_storage(body: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """Cinder /os-quota-sets/{id}?usage=True: {field: {limit, in_use, reserved, allocated}}."""
    return _parse(body["quota_set"], SERVICE_FIELDS["block-storage"], "in_use")


def parse_network(body: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """Neutron /quotas/{id}/details: {field: {limit, used, reserved}}."""
    return _parse(body["quota"], SERVICE_FIELDS["network"], "used")


def _parse(section: dict[str, Any], fields: dict[str, str], used_key: str) -> tuple[dict[str, int], dict[str, int]]:
    quota, used = {}, {}
    for api_field, name in fields.items():
        entry = section.get(api_field)
        if not isinstance(entry, dict):
            raise ValueError(f"the cloud's answer has no detail for quota field {api_field!r}")
        quota[name] = int(entry["limit"])
        used[name] = int(entry.get(used_key) or 0)
    return quota, used


class OpenStackReader:
    """One openstacksdk connection per region, authenticated once and shared by the collection's
    threads (keystoneauth re-authenticates when the token expires). Every HTTP call has a timeout."""

    def __init__(self, region: Region, *, timeout: float) -> None:
        self.region = region
        self.timeout = timeout
        self._connection: Any = None
        self._lock = threading.Lock()

    @property
    def connection(self) -> Any:
        with self._lock:
            if self._connection is None:
                import openstack

                connection = openstack.connect(cloud=self.region.cloud, region_name=self.region.openstack_region,
                                               api_timeout=self.timeout)
                connection.authorize()
                # Build the service proxies once, before several threads use them.
                for proxy in ("identity", "compute", "block_storage", "network", "placement"):
                    getattr(connection, proxy)
                self._connection = connection
            return self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def project_ids(self, domain_id: str) -> set[str]:
        return {p.id for p in self.connection.identity.projects(domain_id=domain_id)}

    def _json(self, proxy: Any, path: str, **kwargs: Any) -> dict[str, Any]:
        with span("openstack.get", region=self.region.id, path=path):  # one span per OpenStack read (issue 18)
            response = proxy.get(path, timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"GET {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()

    def read_project(self, openstack_project_id: str) -> ProjectReading:
        connection = self.connection
        pid = openstack_project_id
        quota: dict[str, int] = {}
        used: dict[str, int] = {}
        for parse, proxy, path in (
            (parse_compute, connection.compute, f"/os-quota-sets/{pid}/detail"),
            (parse_block_storage, connection.block_storage, f"/os-quota-sets/{pid}?usage=True"),
            (parse_network, connection.network, f"/quotas/{pid}/details"),
        ):
            q, u = parse(self._json(proxy, path))
            quota.update(q)
            used.update(u)
        return ProjectReading(quota=quota, used=used)

    def read_capacity(self) -> CapacityReading:
        placement = self.connection.placement
        capacity: dict[str, int] = {}
        used: dict[str, int] = {}
        providers = self._json(placement, "/resource_providers")["resource_providers"]
        for provider in providers:
            inventories = self._json(placement, f"/resource_providers/{provider['uuid']}/inventories")["inventories"]
            usages = self._json(placement, f"/resource_providers/{provider['uuid']}/usages")["usages"]
            for resource_class, name in PLACEMENT_CLASSES.items():
                inventory = inventories.get(resource_class)
                if inventory:
                    usable = (inventory["total"] - inventory.get("reserved", 0)) * inventory.get("allocation_ratio", 1.0)
                    capacity[name] = capacity.get(name, 0) + int(usable)
                    used[name] = used.get(name, 0) + int(usages.get(resource_class, 0))
        return CapacityReading(capacity=capacity, used=used)


class CachedReaders:
    """Readers per region, kept for the life of the process so connections are reused."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._readers: dict[str, OpenStackReader] = {}
        self._lock = threading.Lock()

    def __call__(self, region: Region) -> CloudReader:
        with self._lock:
            reader = self._readers.get(region.id)
            if reader is None:
                reader = self._readers[region.id] = OpenStackReader(region, timeout=self.timeout)
            return reader

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
