"""The quantities Sahab manages per OpenStack project, and the presets."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from controlplane.errors import Detail, InvalidInput


class Resource(StrEnum):
    """One managed quota. The value is Sahab's name; `openstack` gives the service's."""

    VCPUS = "vcpus"
    RAM_MIB = "ram_mib"
    INSTANCES = "instances"
    VOLUME_GIB = "volume_gib"
    VOLUMES = "volumes"
    SNAPSHOTS = "snapshots"
    NETWORKS = "networks"
    SUBNETS = "subnets"
    PORTS = "ports"
    ROUTERS = "routers"
    FLOATING_IPS = "floating_ips"
    SECURITY_GROUPS = "security_groups"
    SECURITY_GROUP_RULES = "security_group_rules"
    # Swift account quota (account_quotas middleware, X-Account-Meta-Quota-Bytes). Swift 2.30 has no
    # container-count quota (account_quotas enforces bytes only), so there is no `buckets` resource.
    OBJECT_GIB = "object_gib"

    @property
    def service(self) -> str:
        return _SERVICE[self]

    @property
    def unit(self) -> str:
        return {Resource.RAM_MIB: "mebibytes", Resource.VOLUME_GIB: "gibibytes", Resource.OBJECT_GIB: "gibibytes"}.get(
            self, "count"
        )


_SERVICE = {
    Resource.VCPUS: "compute",
    Resource.RAM_MIB: "compute",
    Resource.INSTANCES: "compute",
    Resource.VOLUME_GIB: "block-storage",
    Resource.VOLUMES: "block-storage",
    Resource.SNAPSHOTS: "block-storage",
    Resource.OBJECT_GIB: "object-store",
}
_SERVICE.update({r: "network" for r in Resource if r not in _SERVICE})


Amounts = dict[Resource, int]

# No amount anywhere may exceed this, whatever a region holds: it fits a 64-bit column with room
# for sums, and clients that read JSON numbers as doubles (JavaScript) read it exactly. It stops a
# 10**100 at the door; the region's own capacity is the tighter bound (`check_within`).
AMOUNT_MAX = 2**53 - 1


def some_amounts(values: Mapping[str, object]) -> Amounts:
    """Validate a partial mapping of resource name to amount: the one place for these rules.

    Unknown names are refused; an amount is a whole number from 0 to AMOUNT_MAX.
    """
    unknown = sorted(set(values) - {r.value for r in Resource})
    if unknown:
        raise InvalidInput(
            Detail(
                "unknown resource(s): {unknown}; known: {known}",
                unknown=", ".join(unknown),
                known=", ".join(r.value for r in Resource),
            )
        )
    result: Amounts = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(Detail("{name} must be a whole number, got {value!r}", name=name, value=value))
        if value < 0:
            raise InvalidInput(Detail("{name}: amounts must be >= 0, got {value}", name=name, value=value))
        if value > AMOUNT_MAX:
            # The value itself is not echoed: it may be thousands of digits long.
            raise InvalidInput(
                Detail("{name}: amounts must be <= {maximum}, got a larger number", name=name, maximum=AMOUNT_MAX)
            )
        result[Resource(name)] = value
    return result


def amounts(values: Mapping[str, object] | None = None, *, fill: int | None = 0) -> Amounts:
    """Validate a mapping of resource name to amount into complete Amounts.

    Missing resources get `fill` (or are refused when fill is None).
    """
    given = some_amounts(values or {})
    result: Amounts = {}
    for resource in Resource:
        if resource in given:
            result[resource] = given[resource]
        elif fill is None:
            raise InvalidInput(Detail("missing amount for {resource_value}", resource_value=resource.value))
        else:
            result[resource] = fill
    return result


def check_within(requested: Amounts, bound: Amounts, where: str) -> None:
    """Refuse amounts above a bound, naming each resource and its bound."""
    over = [r for r in Resource if requested.get(r, 0) > bound.get(r, 0)]
    if over:
        raise InvalidInput(
            f"more than {where}: " + "; ".join(f"{r.value} requested {requested[r]}, at most {bound[r]}" for r in over),
            bounds=[{"resource": r.value, "requested": requested[r], "max": bound[r]} for r in over],
        )


def as_plain(values: Amounts) -> dict[str, int]:
    return {r.value: int(values.get(r, 0)) for r in Resource}


def exceeds(left: Amounts, right: Amounts) -> list[Resource]:
    """The resources where left is larger than right."""
    return [r for r in Resource if left.get(r, 0) > right.get(r, 0)]


PRESETS: dict[str, Amounts] = {
    "small": amounts(
        {
            "vcpus": 4,
            "ram_mib": 8192,
            "instances": 4,
            "volume_gib": 100,
            "volumes": 10,
            "snapshots": 10,
            "networks": 2,
            "subnets": 2,
            "ports": 20,
            "routers": 1,
            "floating_ips": 2,
            "security_groups": 10,
            "security_group_rules": 50,
            "object_gib": 10,
        }
    ),
    "medium": amounts(
        {
            "vcpus": 16,
            "ram_mib": 32768,
            "instances": 16,
            "volume_gib": 500,
            "volumes": 40,
            "snapshots": 40,
            "networks": 5,
            "subnets": 5,
            "ports": 80,
            "routers": 2,
            "floating_ips": 5,
            "security_groups": 20,
            "security_group_rules": 200,
            "object_gib": 100,
        }
    ),
    "large": amounts(
        {
            "vcpus": 64,
            "ram_mib": 131072,
            "instances": 64,
            "volume_gib": 2000,
            "volumes": 150,
            "snapshots": 150,
            "networks": 10,
            "subnets": 10,
            "ports": 300,
            "routers": 5,
            "floating_ips": 20,
            "security_groups": 50,
            "security_group_rules": 800,
            "object_gib": 500,
        }
    ),
}


def preset(name: str) -> Amounts:
    try:
        return dict(PRESETS[name])
    except KeyError:
        raise InvalidInput(
            Detail("unknown preset {name!r}; known: {known}", name=name, known=", ".join(PRESETS))
        ) from None
