"""Reading one region's cloud: usage of all projects from a few paginated all-project listings
(servers with their flavors, volumes, snapshots, Neutron objects), Neutron's quotas of all projects,
Nova's and Cinder's quotas one project at a time (only for drift, see schedule.py), and capacity
(Placement). The seam is controlplane.ports.CloudReader: `OpenStackReader` is the real one (openstacksdk, one
authenticated connection per region, reused across collections); unit tests use a fake."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from controlplane.contract import QUOTA_FIELDS
from controlplane.domain.regions import Region
from controlplane.observability.tracing import span
from controlplane.ports import BulkQuotas, CapacityReading, ObjectAccount, ProjectReading, Usage


@dataclass(frozen=True)
class Listing:
    """One all-project listing and what each of its items counts towards its project's usage."""

    name: str
    proxy: str  # openstacksdk service proxy
    path: str
    key: str  # the list in the body; its links are under f"{key}_links"
    params: tuple[tuple[str, str], ...]
    microversion: str | None
    resources: frozenset[str]  # what it counts
    count: Callable[[dict[str, Any]], tuple[str, dict[str, int]]]  # item -> (project id, amounts)


def _one(resource: str, project_key: str = "project_id") -> Callable[[dict[str, Any]], tuple[str, dict[str, int]]]:
    return lambda item: (item[project_key], {resource: 1})


def _server(item: dict[str, Any]) -> tuple[str, dict[str, int]]:
    flavor = item["flavor"]  # embedded since microversion 2.47: what the instance was given, even if the flavor is gone
    return item["tenant_id"], {"instances": 1, "vcpus": int(flavor["vcpus"]), "ram_mib": int(flavor["ram"])}


def _volume(item: dict[str, Any]) -> tuple[str, dict[str, int]]:
    return item["os-vol-tenant-attr:tenant_id"], {"volumes": 1, "volume_gib": int(item["size"])}


def _snapshot(item: dict[str, Any]) -> tuple[str, dict[str, int]]:
    # Cinder charges a snapshot's size to the gigabytes quota too (unless no_snapshot_gb_quota is set).
    return item["os-extended-snapshot-attributes:project_id"], {"snapshots": 1, "volume_gib": int(item["size"])}


_ALL = (("all_tenants", "1"),)
_ID_AND_PROJECT = (("fields", "id"), ("fields", "project_id"))
# What Nova, Cinder and Neutron count as a project's usage, read for all projects at once. Nova counts
# non-deleted instances that are not soft-deleted, which is what its server list shows; Cinder counts
# volumes and snapshots in any status until they are deleted; Neutron counts the objects whose
# project_id is the project (router gateway and floating IP ports belong to no project).
LISTINGS: tuple[Listing, ...] = (
    Listing(
        "servers",
        "compute",
        "/servers/detail",
        "servers",
        _ALL,
        "2.47",
        frozenset({"instances", "vcpus", "ram_mib"}),
        _server,
    ),
    Listing(
        "volumes",
        "block_storage",
        "/volumes/detail",
        "volumes",
        _ALL,
        None,
        frozenset({"volumes", "volume_gib"}),
        _volume,
    ),
    Listing(
        "snapshots",
        "block_storage",
        "/snapshots/detail",
        "snapshots",
        _ALL,
        None,
        frozenset({"snapshots", "volume_gib"}),
        _snapshot,
    ),
    *(
        Listing(
            path,
            "network",
            f"/{path}",
            path.replace("-", "_"),
            _ID_AND_PROJECT,
            None,
            frozenset({resource}),
            _one(resource),
        )
        for path, resource in (
            ("networks", "networks"),
            ("subnets", "subnets"),
            ("ports", "ports"),
            ("routers", "routers"),
            ("floatingips", "floating_ips"),
            ("security-groups", "security_groups"),
            ("security-group-rules", "security_group_rules"),
        )
    ),
)
LISTINGS_BY_NAME = {listing.name: listing for listing in LISTINGS}


# Placement resource class -> Sahab resource
PLACEMENT_CLASSES = {"VCPU": "vcpus", "MEMORY_MB": "ram_mib"}


def _services_fields() -> dict[str, dict[str, str]]:
    by_service: dict[str, dict[str, str]] = {}
    for name, (service, api_field) in QUOTA_FIELDS.items():
        by_service.setdefault(service, {})[api_field] = name
    return by_service


SERVICE_FIELDS = _services_fields()


# Nova's /limits names for the quotas Sahab manages.
NOVA_LIMITS = {"maxTotalCores": "vcpus", "maxTotalRAMSize": "ram_mib", "maxTotalInstances": "instances"}


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


def parse_limits(section: dict[str, Any], service: str) -> dict[str, int]:
    """A plain quota set ({field: limit}, as Nova's and Cinder's /os-quota-sets/{id} and each entry
    of Neutron's /quotas give it), keyed by Sahab resource."""
    quota = {}
    for api_field, name in SERVICE_FIELDS[service].items():
        if api_field not in section:
            raise ValueError(f"the cloud's answer has no quota field {api_field!r}")
        quota[name] = int(section[api_field])
    return quota


def add_usage(total: Usage, project_id: str, amounts: dict[str, int]) -> None:
    mine = total.setdefault(project_id, {})
    for name, amount in amounts.items():
        mine[name] = mine.get(name, 0) + amount


class OpenStackReader:
    """One openstacksdk connection per region, authenticated once and shared by the collection's
    threads (keystoneauth re-authenticates when the token expires). Every HTTP call has a timeout."""

    def __init__(self, region: Region, *, timeout: float, page_size: int = 1000) -> None:
        self.region = region
        self.timeout = timeout
        self.page_size = page_size
        self._connection: Any = None
        self._lock = threading.Lock()

    @property
    def connection(self) -> Any:
        with self._lock:
            if self._connection is None:
                import openstack  # openstacksdk is heavy: loaded by the processes that read a cloud, never the API

                connection = openstack.connect(
                    cloud=self.region.cloud, region_name=self.region.openstack_region, api_timeout=self.timeout
                )
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

    def projects(self, domain_id: str) -> dict[str, str]:
        identity = self.connection.identity
        found: dict[str, str] = {}
        path: str | None = "/projects"
        params: dict[str, str] | None = {"domain_id": domain_id}
        while path:
            body = self._json(identity, path, params=params)
            if body.get("truncated"):
                # Keystone's list_limit cut the list: projects past it would look missing.
                raise RuntimeError("Keystone truncated the project list (its list_limit is lower than the projects)")
            found.update((project["id"], project["name"]) for project in body["projects"])
            path, params = (body.get("links") or {}).get("next"), None
        return found

    def _json(self, proxy: Any, path: str, **kwargs: Any) -> dict[str, Any]:
        with span("openstack.get", region=self.region.id, path=path):  # one span per OpenStack read
            response = proxy.get(path, timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"GET {path}: HTTP {response.status_code} {response.text[:300]}")
        found: dict[str, Any] = response.json()
        return found

    def _pages(self, listing: Listing) -> Iterator[list[dict[str, Any]]]:
        """Every page of a listing: marker = the last item's id, while the service says there is a
        next page (it does so only when a page is full, whatever its own maximum page size is)."""
        proxy = getattr(self.connection, listing.proxy)
        marker: str | None = None
        while True:
            params = [*listing.params, ("limit", str(self.page_size))]
            if marker is not None:
                params.append(("marker", marker))
            body = self._json(proxy, listing.path, params=params, microversion=listing.microversion)
            items = body[listing.key]
            yield items
            links = body.get(f"{listing.key}_links") or []
            if not items or not any(link.get("rel") == "next" for link in links):
                return
            marker = items[-1]["id"]

    def read_usage(self, listing: str) -> Usage:
        spec = LISTINGS_BY_NAME[listing]
        usage: Usage = {}
        for page in self._pages(spec):
            for item in page:
                project_id, amounts = spec.count(item)
                if project_id:
                    add_usage(usage, project_id, amounts)
        return usage

    def read_bulk_quotas(self) -> BulkQuotas:
        network = self.connection.network
        # Projects without quotas of their own are not listed: the defaults hold for them.
        default = self._json(network, f"/quotas/{self.connection.current_project_id}/default")["quota"]
        listed = self._json(network, "/quotas")["quotas"]
        return BulkQuotas(
            by_project={
                entry.get("project_id") or entry["tenant_id"]: parse_limits(entry, "network") for entry in listed
            },
            default=parse_limits(default, "network"),
        )

    def read_quota(self, openstack_project_id: str) -> dict[str, int]:
        connection, pid = self.connection, openstack_project_id
        # Nova's /limits for another project, not /os-quota-sets/{id}: the latter first asks Keystone
        # whether the project exists, which made it ten times slower on the devcloud (1.6 s vs 0.15 s
        # under load). Missing projects are found from Keystone's list anyway.
        absolute = self._json(connection.compute, "/limits", params={"tenant_id": pid})["limits"]["absolute"]
        compute = {name: int(absolute[field]) for field, name in NOVA_LIMITS.items()}
        block = parse_limits(
            self._json(connection.block_storage, f"/os-quota-sets/{pid}")["quota_set"], "block-storage"
        )
        return {**compute, **block}

    def read_object_account(self, openstack_project_id: str) -> ObjectAccount:
        connection = self.connection
        endpoint = connection.endpoint_for("object-store")  # the admin's own account: swap the id
        url = f"{endpoint.rsplit('/AUTH_', 1)[0]}/AUTH_{openstack_project_id}"
        with span("openstack.head", region=self.region.id, path="/v1/AUTH_{project}"):
            response = connection.session.head(url, timeout=self.timeout, raise_exc=False)
        if response.status_code == 404:  # never written to and not yet created: nothing stored
            return ObjectAccount(quota_bytes=-1, bytes=0, objects=0, containers=0)
        if response.status_code >= 400:
            raise RuntimeError(f"HEAD account {openstack_project_id}: HTTP {response.status_code}")
        headers = response.headers
        return ObjectAccount(
            quota_bytes=int(headers.get("X-Account-Meta-Quota-Bytes", -1)),
            bytes=int(headers.get("X-Account-Bytes-Used", 0)),
            objects=int(headers.get("X-Account-Object-Count", 0)),
            containers=int(headers.get("X-Account-Container-Count", 0)),
        )

    def read_project_detail(self, openstack_project_id: str) -> ProjectReading:
        """Quota and usage as each service counts them for one project: three calls, each making the
        service count that project's usage. Not used by the collection; the reference the bulk
        listings are checked against (tests) and compared with (bench)."""
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
                    usable = (inventory["total"] - inventory.get("reserved", 0)) * inventory.get(
                        "allocation_ratio", 1.0
                    )
                    capacity[name] = capacity.get(name, 0) + int(usable)
                    used[name] = used.get(name, 0) + int(usages.get(resource_class, 0))
        return CapacityReading(capacity=capacity, used=used)


class CachedReaders:
    """Readers per region, kept for the life of the process so connections are reused."""

    def __init__(self, timeout: float, *, page_size: int = 1000) -> None:
        self.timeout = timeout
        self.page_size = page_size
        self._readers: dict[str, OpenStackReader] = {}
        self._lock = threading.Lock()

    def __call__(self, region: Region) -> OpenStackReader:
        with self._lock:
            reader = self._readers.get(region.id)
            if reader is None:
                reader = self._readers[region.id] = OpenStackReader(
                    region, timeout=self.timeout, page_size=self.page_size
                )
            return reader

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
