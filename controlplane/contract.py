"""Contract types between the core and the stack programs.

This module is the only part of the core that stacks/ may import. It depends
on nothing but the standard library so a stack program stays a pure function
of these inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TenantSpec:
    """Everything needed to build one project's stack (organisation x region x environment)."""

    project_id: str  # Sahab's id; also the stack name
    organisation_id: str
    organisation_name: str
    request_id: str
    region_id: str
    cloud: str  # clouds.yaml entry with admin rights in the region
    openstack_region: str
    domain_id: str
    environment: str
    quota: dict[str, int]  # Sahab resource name -> amount, every resource present
    external_network: str | None = None
    create_network: bool = False

    @property
    def openstack_project_name(self) -> str:
        # Unique per domain in Keystone, so a lost create can be found again by name; the region is
        # part of it because regions may share one Keystone.
        return f"sahab-{self.organisation_id}-{self.region_id}-{self.environment}"

    @property
    def user_name(self) -> str:
        return f"{self.openstack_project_name}-user"


# Sahab resource -> (OpenStack service, quota field in the service's API and in the Pulumi provider).
QUOTA_FIELDS: dict[str, tuple[str, str]] = {
    "vcpus": ("compute", "cores"),
    "ram_mib": ("compute", "ram"),
    "instances": ("compute", "instances"),
    "volume_gib": ("block-storage", "gigabytes"),
    "volumes": ("block-storage", "volumes"),
    "snapshots": ("block-storage", "snapshots"),
    "networks": ("network", "network"),
    "subnets": ("network", "subnet"),
    "ports": ("network", "port"),
    "routers": ("network", "router"),
    "floating_ips": ("network", "floatingip"),
    "security_groups": ("network", "security_group"),
    "security_group_rules": ("network", "security_group_rule"),
}


def quota_fields(quota: dict[str, int], service: str) -> dict[str, int]:
    """The quota of one service, keyed by that service's field names."""
    return {field: quota[name] for name, (svc, field) in QUOTA_FIELDS.items() if svc == service}


@dataclass(frozen=True)
class TenantOutputs:
    openstack_project_id: str
    user_name: str
    auth_url: str
    region: str
    network_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long operation, shown to the user (never contains secrets)."""

    message: str
    resource_type: str | None = None
    resource_name: str | None = None
    operation: str | None = None  # create | update | delete | same | refresh


ProgressCallback = Callable[[ProgressEvent], None]
