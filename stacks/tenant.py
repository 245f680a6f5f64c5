"""The tenant stack: one per Sahab project (organisation x region x environment).

A pure function of its inputs: a TenantSpec, the region's auth URL, the
project user's password, and the ids of objects that exist on the cloud but
not in the stack (after an interrupted create) so they are adopted, not
created twice. Every resource name is deterministic.

`PROGRAM` is what the runner uses (controlplane.contract.StackProgram): the
program, the adoption rules and the meaning of the outputs, all kept here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_openstack as openstack

from controlplane.contract import CloudAccess, TenantOutputs, TenantSpec, quota_fields
from stacks.object_quota import AccountQuota

log = logging.getLogger(__name__)
MEMBER_ROLE = "member"
TENANT_CIDR = "10.42.0.0/24"
# Resource names in the stack (the last part of their URNs). Objects named on the cloud after
# the spec can be found again by name; these are the ones recovery may adopt.
PROJECT, USER = "project", "user"
NETWORK, SUBNET, ROUTER, ROUTER_INTERFACE = "network", "subnet", "router", "router-subnet"
NETWORK_PARTS = (NETWORK, SUBNET, ROUTER, ROUTER_INTERFACE)
OBJECT_QUOTA, S3_CREDENTIAL = "object-quota", "s3-credential"


@dataclass(frozen=True)
class Adopt:
    """Cloud objects to import into the stack instead of creating them."""

    project_id: str | None = None
    user_id: str | None = None
    network_id: str | None = None
    subnet_id: str | None = None
    router_id: str | None = None
    router_interface_port_id: str | None = None


def tenant_program(
    spec: TenantSpec,
    auth_url: str,
    password: pulumi.Input[str],
    adopt: Adopt = Adopt(),
) -> dict[str, pulumi.Output[str] | str | None]:
    provider = openstack.Provider("region", cloud=spec.cloud, region=spec.openstack_region)
    on_region = pulumi.ResourceOptions(provider=provider)

    def adopting(object_id: str | None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(provider=provider, import_=object_id) if object_id else on_region

    project = openstack.identity.Project(
        PROJECT,
        name=spec.openstack_project_name,
        description=f"Sahab project {spec.project_id} of {spec.organisation_name} ({spec.environment})",
        domain_id=spec.domain_id,
        enabled=True,
        tags=[
            f"sahab-organisation={spec.organisation_id}",
            f"sahab-project={spec.project_id}",
            f"sahab-request={spec.request_id}",
        ],
        opts=adopting(adopt.project_id),
    )
    user = openstack.identity.User(
        USER,
        name=spec.user_name,
        description=f"Sahab project user of {spec.project_id}",
        domain_id=spec.domain_id,
        default_project_id=project.id,
        password=pulumi.Output.secret(password),
        enabled=True,
        ignore_change_password_upon_first_use=True,
        opts=adopting(adopt.user_id),
    )
    member = openstack.identity.get_role_output(name=MEMBER_ROLE, opts=pulumi.InvokeOptions(provider=provider))
    openstack.identity.RoleAssignment(
        "user-member",
        project_id=project.id,
        user_id=user.id,
        role_id=member.id,
        opts=on_region,
    )

    # Every managed field is set explicitly: the granted quota is the whole truth.
    openstack.compute.QuotaSetV2(
        "compute-quota",
        project_id=project.id,
        region=spec.openstack_region,
        **quota_fields(spec.quota, "compute"),
        opts=on_region,
    )
    openstack.blockstorage.QuoteSetV3(
        "volume-quota",
        project_id=project.id,
        region=spec.openstack_region,
        **quota_fields(spec.quota, "block-storage"),
        opts=on_region,
    )
    openstack.networking.QuotaV2(
        "network-quota",
        project_id=project.id,
        region=spec.openstack_region,
        **quota_fields(spec.quota, "network"),
        opts=on_region,
    )

    s3: dict[str, pulumi.Output[str] | str] = {}
    if spec.object_storage:
        s3 = _object_storage(spec, project.id, user.id, on_region)

    network_id: pulumi.Output[str] | None = None
    if spec.create_network and spec.external_network and spec.quota.get("networks", 0) > 0:
        network_id = _default_network(spec, project.id, provider, adopt)

    outputs = {
        "project_id": project.id,
        "user_name": user.name,
        "password": pulumi.Output.secret(password),
        "auth_url": auth_url,
        "region": spec.openstack_region,
        "network_id": network_id,
        **s3,
    }
    for name, value in outputs.items():
        pulumi.export(name, value)
    return outputs


def _object_storage(
    spec: TenantSpec, project_id: pulumi.Output[str], user_id: pulumi.Output[str], on_region: pulumi.ResourceOptions
) -> dict[str, pulumi.Output[str] | str]:
    """The Swift account quota (every run sets it: the granted quota is the whole truth) and the
    project user's EC2 credentials for S3 (Swift's s3api checks them through Keystone)."""
    quota = AccountQuota(
        OBJECT_QUOTA,
        cloud=spec.cloud,
        region=spec.openstack_region,
        project_id=project_id,
        quota_gib=spec.quota.get("object_gib", 0),
    )
    credential = openstack.identity.Ec2CredentialV3(
        S3_CREDENTIAL,
        user_id=user_id,
        project_id=project_id,
        region=spec.openstack_region,
        opts=on_region,
    )
    return {
        "s3_endpoint": quota.endpoint,
        "s3_access_key": credential.access,
        "s3_secret_key": pulumi.Output.secret(credential.secret),
    }


def network_names(spec: TenantSpec) -> dict[str, str]:
    """Resource name -> the object's name on the cloud, for the private network's parts."""
    name = spec.openstack_project_name
    return {NETWORK: f"{name}-net", SUBNET: f"{name}-subnet", ROUTER: f"{name}-router"}


def _default_network(
    spec: TenantSpec, project_id: pulumi.Output[str], provider: openstack.Provider, adopt: Adopt
) -> pulumi.Output[str]:
    """A private network and subnet routed to the region's external network."""

    def opts(object_id: str | None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(provider=provider, import_=object_id)

    names = network_names(spec)
    network = openstack.networking.Network(
        NETWORK, name=names[NETWORK], tenant_id=project_id, opts=opts(adopt.network_id)
    )
    subnet = openstack.networking.Subnet(
        SUBNET,
        name=names[SUBNET],
        network_id=network.id,
        tenant_id=project_id,
        cidr=TENANT_CIDR,
        ip_version=4,
        dns_nameservers=[],
        opts=opts(adopt.subnet_id),
    )
    external = openstack.networking.get_network_output(
        name=spec.external_network, opts=pulumi.InvokeOptions(provider=provider)
    )
    router = openstack.networking.Router(
        ROUTER,
        name=names[ROUTER],
        tenant_id=project_id,
        external_network_id=external.id,
        opts=opts(adopt.router_id),
    )
    openstack.networking.RouterInterface(
        ROUTER_INTERFACE, router_id=router.id, subnet_id=subnet.id, opts=opts(adopt.router_interface_port_id)
    )
    return network.id


def find_lost_objects(spec: TenantSpec, in_state: Mapping[str, str | None], conn: Any) -> Adopt:
    """Objects an interrupted create left on the cloud but not in the stack, found by their
    deterministic names (through `conn`, an admin connection to the spec's region)."""
    found: dict[str, str | None] = {}
    if PROJECT not in in_state:
        project = conn.identity.find_project(spec.openstack_project_name, domain_id=spec.domain_id, ignore_missing=True)
        found[PROJECT] = project.id if project else None
    if USER not in in_state:
        user = conn.identity.find_user(spec.user_name, domain_id=spec.domain_id, ignore_missing=True)
        found[USER] = user.id if user else None
    project_id = in_state.get(PROJECT) or found.get(PROJECT)
    if spec.create_network and project_id:
        names = network_names(spec)
        lookups = {NETWORK: conn.network.networks, SUBNET: conn.network.subnets, ROUTER: conn.network.routers}
        for kind, listing in lookups.items():
            if kind not in in_state:
                match = next(iter(listing(name=names[kind], project_id=project_id)), None)
                found[kind] = match.id if match else None
        router_id, subnet_id = in_state.get(ROUTER) or found.get(ROUTER), in_state.get(SUBNET) or found.get(SUBNET)
        if ROUTER_INTERFACE not in in_state and router_id and subnet_id:
            port = next(iter(conn.network.ports(device_id=router_id, fixed_ips=f"subnet_id={subnet_id}")), None)
            found[ROUTER_INTERFACE] = port.id if port else None
    return Adopt(
        project_id=found.get(PROJECT),
        user_id=found.get(USER),
        network_id=found.get(NETWORK),
        subnet_id=found.get(SUBNET),
        router_id=found.get(ROUTER),
        router_interface_port_id=found.get(ROUTER_INTERFACE),
    )


class TenantProgram:
    """The tenant stack as a StackProgram (see controlplane.contract)."""

    project = "sahab-tenants"

    def build(self, spec: TenantSpec, cloud: CloudAccess, password: str, adopt: Any) -> Callable[[], None]:
        auth_url = cloud.auth_url
        return lambda: tenant_program(spec, auth_url, password, adopt or Adopt())  # type: ignore[func-returns-value]

    def lost_objects(self, spec: TenantSpec, in_state: Mapping[str, str | None], cloud: CloudAccess) -> Adopt:
        wanted = {PROJECT, USER} | (set(NETWORK_PARTS) if spec.create_network else set())
        if wanted <= set(in_state):
            return Adopt()
        with cloud.connect() as conn:
            adopt = find_lost_objects(spec, in_state, conn)
        adopted = sorted(k for k, v in adopt.__dict__.items() if v)
        if adopted:
            log.warning("stack %s adopts objects an interrupted update left: %s", spec.project_id, adopted)
        return adopt

    def outputs(self, raw: Mapping[str, Any]) -> TenantOutputs | None:
        if "project_id" not in raw:
            return None
        return TenantOutputs(
            openstack_project_id=raw["project_id"],
            user_name=raw["user_name"],
            auth_url=raw["auth_url"],
            region=raw["region"],
            network_id=raw.get("network_id"),
            password=raw.get("password"),
            s3_endpoint=raw.get("s3_endpoint"),
            s3_access_key=raw.get("s3_access_key"),
            s3_secret_key=raw.get("s3_secret_key"),
        )


PROGRAM = TenantProgram()
