"""Real tenants for the end-to-end tests: ask for one through the API, read its quota from the
cloud, and remove what a failed test left on the cloud."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from controlplane.contract import QUOTA_FIELDS, TenantSpec
from tests.support.objects import read_object_quota


def read_quota(cloud: Any, project_id: str) -> dict[str, int]:
    """Quota of a project as Nova, Cinder and Neutron of the connection's region report it."""
    compute = cloud.compute.get(f"/os-quota-sets/{project_id}", microversion="2.1").json()["quota_set"]
    volume = cloud.block_storage.get(f"/os-quota-sets/{project_id}").json()["quota_set"]
    network = cloud.network.get(f"/quotas/{project_id}").json()["quota"]
    by_service = {
        "compute": compute,
        "block-storage": volume,
        "network": network,
        "object-store": {"quota_gib": read_object_quota(cloud, project_id)},
    }
    return {name: int(by_service[service][field]) for name, (service, field) in QUOTA_FIELDS.items()}


def verified_org(api: httpx.Client, owner: dict, operator: dict) -> str:
    suffix = uuid.uuid4().int % 10**15
    org = api.post(
        "/v1/organisations",
        headers=owner,
        json={
            "kind": "business",
            "legal_name": f"E2E {suffix}",
            "national_id": f"{suffix:015d}",
            "contact_email": "e2e@example.org",
        },
    )
    assert org.status_code == 201, org.text
    api.post(f"/v1/organisations/{org.json()['id']}/verify", headers=operator).raise_for_status()
    return org.json()["id"]


def ask(
    api: httpx.Client, headers: dict, org: str, env: str, region: str = "rabat-1", **amounts: int
) -> dict[str, Any]:
    response = api.post(
        "/v1/quota-requests",
        headers=headers,
        json={
            "organisation_id": org,
            "region": region,
            "environment": env,
            "preset": "small",
            "amounts": amounts,
            "justification": "end-to-end test",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def cleanup(cloud: Any, org: str, keystone: bool = True) -> None:
    """Best effort: leave no tenant behind when a test failed half-way (networks of the
    connection's region; Keystone objects once, they are shared by the regions)."""
    for project in cloud.identity.projects():
        if not project.name.startswith(f"sahab-{org}-"):
            continue
        for router in cloud.network.routers(project_id=project.id):
            for port in cloud.network.ports(device_id=router.id, device_owner="network:router_interface"):
                cloud.network.remove_interface_from_router(router, port_id=port.id)
            cloud.network.delete_router(router)
        for network in cloud.network.networks(project_id=project.id):
            cloud.network.delete_network(network)
        if not keystone:
            continue
        user = cloud.identity.find_user(f"{project.name}-user", ignore_missing=True)
        if user:
            cloud.identity.delete_user(user)
        cloud.identity.delete_project(project)


def object_storage_spec(suffix: str, object_gib: int) -> TenantSpec:
    """A minimal tenant in rabat-1 with object storage (no network), for the runner's own tests."""
    quota = {name: 0 for name in QUOTA_FIELDS} | {"vcpus": 1, "object_gib": object_gib}
    return TenantSpec(
        project_id=f"prj_swift{suffix}",
        organisation_id=f"org_swift{suffix}",
        organisation_name="Swift test",
        request_id="req_swift",
        region_id="rabat-1",
        cloud="sahab-devcloud",
        openstack_region="RegionOne",
        domain_id="default",
        environment="objects",
        quota=quota,
        object_storage=True,
    )
