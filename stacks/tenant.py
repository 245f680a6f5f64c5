"""The tenant stack: one per Sahab project (organisation x region x environment).

A pure function of its inputs: a TenantSpec, the region's auth URL, the
project user's password, and the ids of objects that exist on the cloud but
not in the stack (after an interrupted create) so they are adopted, not
created twice. Every resource name is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from controlplane.contract import TenantSpec, quota_fields

MEMBER_ROLE = "member"
TENANT_CIDR = "10.42.0.0/24"


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
    spec: TenantSpec, auth_url: str, password: pulumi.Input[str], adopt: Adopt = Adopt(),
) -> dict[str, pulumi.Output[str] | str | None]:
    provider = openstack.Provider("region", cloud=spec.cloud, region=spec.openstack_region)
    on_region = pulumi.ResourceOptions(provider=provider)

    def adopting(object_id: str | None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(provider=provider, import_=object_id) if object_id else on_region

    project = openstack.identity.Project(
        "project",
        name=spec.openstack_project_name,
        description=f"Sahab project {spec.project_id} of {spec.organisation_name} ({spec.environment})",
        domain_id=spec.domain_id,
        enabled=True,
        tags=[f"sahab-organisation={spec.organisation_id}", f"sahab-project={spec.project_id}",
              f"sahab-request={spec.request_id}"],
        opts=adopting(adopt.project_id),
    )
    user = openstack.identity.User(
        "user",
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
        "user-member", project_id=project.id, user_id=user.id, role_id=member.id, opts=on_region,
    )

    # Every managed field is set explicitly: the granted quota is the whole truth.
    openstack.compute.QuotaSetV2(
        "compute-quota", project_id=project.id, region=spec.openstack_region,
        **quota_fields(spec.quota, "compute"), opts=on_region,
    )
    openstack.blockstorage.QuoteSetV3(
        "volume-quota", project_id=project.id, region=spec.openstack_region,
        **quota_fields(spec.quota, "block-storage"), opts=on_region,
    )
    openstack.networking.QuotaV2(
        "network-quota", project_id=project.id, region=spec.openstack_region,
        **quota_fields(spec.quota, "network"), opts=on_region,
    )

    network_id: pulumi.Output[str] | None = None
    if spec.create_network and spec.external_network and spec.quota.get("networks", 0) > 0:
        network_id = _default_network(spec, project.id, provider, adopt)

    outputs = {
        "project_id": project.id, "user_name": user.name, "password": pulumi.Output.secret(password),
        "auth_url": auth_url, "region": spec.openstack_region, "network_id": network_id,
    }
    for name, value in outputs.items():
        pulumi.export(name, value)
    return outputs


def network_names(spec: TenantSpec) -> dict[str, str]:
    """Resource name -> the object's name on the cloud, for the private network's parts."""
    name = spec.openstack_project_name
    return {"network": f"{name}-net", "subnet": f"{name}-subnet", "router": f"{name}-router"}


def _default_network(spec: TenantSpec, project_id: pulumi.Output[str], provider: openstack.Provider, adopt: Adopt) -> pulumi.Output[str]:
    """A private network and subnet routed to the region's external network."""

    def opts(object_id: str | None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(provider=provider, import_=object_id)

    names = network_names(spec)
    network = openstack.networking.Network("network", name=names["network"], tenant_id=project_id,
                                           opts=opts(adopt.network_id))
    subnet = openstack.networking.Subnet(
        "subnet", name=names["subnet"], network_id=network.id, tenant_id=project_id, cidr=TENANT_CIDR,
        ip_version=4, dns_nameservers=[], opts=opts(adopt.subnet_id),
    )
    external = openstack.networking.get_network_output(name=spec.external_network,
                                                       opts=pulumi.InvokeOptions(provider=provider))
    router = openstack.networking.Router(
        "router", name=names["router"], tenant_id=project_id, external_network_id=external.id,
        opts=opts(adopt.router_id),
    )
    openstack.networking.RouterInterface("router-subnet", router_id=router.id, subnet_id=subnet.id,
                                         opts=opts(adopt.router_interface_port_id))
    return network.id
