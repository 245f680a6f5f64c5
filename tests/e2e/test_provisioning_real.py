"""Provisioning for real: the API and Celery workers (subprocesses) on PostgreSQL and
RabbitMQ, the Pulumi engine with the OpenStack provider, the local OpenStack."""

from __future__ import annotations

import time

import openstack
import pytest

from controlplane.contract import QUOTA_FIELDS
from tests.support.e2e import wait_for
from tests.support.tenants import ask, cleanup, read_quota
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.devcloud,
    pytest.mark.pulumi,
    pytest.mark.postgres,
    pytest.mark.rabbitmq,
    pytest.mark.timeout(1800),
]
FINAL = {"active", "failed", "rejected", "cancelled"}


def test_request_to_active_change_credentials_and_decommission(sahab, api, tenant, issuer, cloud):
    owner, org = tenant
    sahab.start_worker("w1")
    try:
        started = time.monotonic()
        created = ask(api, owner, org, "prod", vcpus=1, instances=2)
        request = wait_for(api, owner, created["id"], FINAL, 300)
        provisioning_seconds = time.monotonic() - started
        assert request["state"] == "active", (request, sahab.log("w1"))
        print(f"\none provisioning, request to active: {provisioning_seconds:.1f}s")
        project = api.get(f"/v1/projects/{request['project_id']}", headers=owner).json()
        assert read_quota(cloud, project["openstack_project_id"]) == request["amounts"]

        events = api.get(f"/v1/quota-requests/{created['id']}/events", headers=owner).json()
        progress = [e["reason"] for e in events if e["to_state"] is None]
        assert "created Project project" in progress and "created QuotaSetV2 compute-quota" in progress

        # The credentials work: a server boots within quota, the next is refused by Nova.
        clouds = api.get(f"/v1/projects/{project['id']}/credentials", headers=owner).json()["clouds"]
        (entry,) = clouds.values()
        # The secret is in the credentials only: not in events, project outputs, logs or metrics.
        password = entry["auth"]["password"]
        assert len(password) >= 24
        for leak in (
            str(events),
            str(project),
            sahab.log("w1", tail=None),
            sahab.log("api", tail=None),
            api.get("/metrics").text,
        ):
            assert password not in leak
        assert (
            api.get(
                f"/v1/projects/{project['id']}/credentials",
                headers=issuer.headers("omar", roles=("operator", "approver")),
            ).status_code
            == 403
        )
        # Only the returned entry: not the admin cloud of the environment.
        tenant = openstack.connect(
            auth=entry["auth"],
            region_name=entry["region_name"],
            auth_type="password",
            identity_api_version="3",
            api_timeout=60,
            load_yaml_config=False,
            load_envvars=False,
        )
        image, flavor = cloud.image.find_image("tiny"), cloud.compute.find_flavor("m1.tiny")
        nics = [{"uuid": project["outputs"]["network_id"]}]
        server = tenant.compute.create_server(name="e2e-1", image_id=image.id, flavor_id=flavor.id, networks=nics)
        tenant.compute.wait_for_server(server, wait=180)
        with pytest.raises(openstack.exceptions.HttpException) as over_quota:
            tenant.compute.create_server(name="e2e-2", image_id=image.id, flavor_id=flavor.id, networks=nics)
        assert over_quota.value.status_code == 403 and "cores" in str(over_quota.value)
        tenant.compute.delete_server(server)
        tenant.compute.wait_for_delete(server, wait=180)

        change = ask(api, owner, org, "prod", vcpus=2, instances=3)
        assert change["kind"] == "change" and change["state"] == "approved"
        assert wait_for(api, owner, change["id"], FINAL, 300)["state"] == "active"
        assert read_quota(cloud, project["openstack_project_id"]) == change["amounts"]
        assert api.get(f"/v1/quota-requests/{created['id']}", headers=owner).json()["state"] == "superseded"

        decommission = api.post(f"/v1/projects/{project['id']}/decommission", headers=owner)
        assert decommission.status_code == 200, decommission.text
        assert wait_for(api, owner, change["id"], {"decommissioned"}, 300)["state"] == "decommissioned"
        assert cloud.identity.find_project(project["openstack_project_id"], ignore_missing=True) is None
        # Quotas were set to zero before the project went: Cinder and Neutron keep them for its id
        # (Nova refuses to answer for a project Keystone no longer has).
        gone = project["openstack_project_id"]
        assert set(
            cloud.block_storage.get(f"/os-quota-sets/{gone}").json()["quota_set"][f]
            for f in ("gigabytes", "volumes", "snapshots")
        ) == {0}
        network_quota = cloud.network.get(f"/quotas/{gone}").json()["quota"]
        assert {network_quota[f] for _, (svc, f) in QUOTA_FIELDS.items() if svc == "network"} == {0}
        assert cloud.compute.get(f"/os-quota-sets/{gone}", microversion="2.1").status_code == 400
        assert api.get(f"/v1/projects/{project['id']}", headers=owner).json()["granted"] == {}
        # The worker's histogram reaches the API's /metrics (one multiprocess directory).
        metrics = api.get("/metrics").text
        assert 'sahab_provisioning_duration_seconds_count{operation="apply",outcome="success"} 2.0' in metrics
        assert 'sahab_provisioning_duration_seconds_count{operation="destroy",outcome="success"} 1.0' in metrics
    finally:
        cleanup(cloud, org)


def test_a_worker_killed_during_up_completes_after_restart(sahab, api, tenant, cloud):
    owner, org = tenant
    sahab.start_worker("w1")
    try:
        created = ask(api, owner, org, "prod")

        def started() -> bool:
            events = api.get(f"/v1/quota-requests/{created['id']}/events", headers=owner).json()
            return any((e["reason"] or "").startswith("created") for e in events)

        try:
            wait_until(started, 300, "provisioning creating a first resource", interval=0.2)
        except AssertionError as late:
            pytest.fail(f"{late}: {sahab.log('w1')}")
        sahab.kill("w1")  # mid-up: some resources exist, the rest do not
        assert api.get(f"/v1/quota-requests/{created['id']}", headers=owner).json()["state"] == "provisioning"

        sahab.start_worker("w1")  # same node name: RabbitMQ redelivers, the lease is ours
        request = wait_for(api, owner, created["id"], FINAL, 400)
        assert request["state"] == "active", (request, sahab.log("w1"))
        named = [p for p in cloud.identity.projects() if p.name == f"sahab-{org}-rabat-1-prod"]
        assert len(named) == 1, "a resumed create must not make a second Keystone project"
        project = api.get(f"/v1/projects/{request['project_id']}", headers=owner).json()
        assert project["openstack_project_id"] == named[0].id
        assert read_quota(cloud, named[0].id) == request["amounts"]
    finally:
        cleanup(cloud, org)


def test_ten_requests_provisioned_concurrently_by_two_workers(sahab, api, tenant, cloud):
    owner, org = tenant
    sahab.start_worker("w1", concurrency=2)
    sahab.start_worker("w2", concurrency=2)
    try:
        started = time.monotonic()
        created = [ask(api, owner, org, f"env{i}", vcpus=2, instances=2) for i in range(10)]
        finished = [wait_for(api, owner, r["id"], FINAL, 900) for r in created]
        elapsed = time.monotonic() - started
        assert [r["state"] for r in finished] == ["active"] * 10, (finished, sahab.log("w1"), sahab.log("w2"))
        print(f"\nten provisionings by two workers (concurrency 2 each): {elapsed:.1f}s")
        projects = [api.get(f"/v1/projects/{r['project_id']}", headers=owner).json() for r in finished]
        assert len({p["openstack_project_id"] for p in projects}) == 10
        for project in projects:
            assert read_quota(cloud, project["openstack_project_id"])["vcpus"] == 2
    finally:
        cleanup(cloud, org)


def test_two_regions_get_separate_projects_and_quotas(sahab, api, tenant, cloud):
    """rabat-1 is RegionOne and casablanca-1 is RegionTwo of the local cloud: own Nova, Cinder, Neutron."""
    owner, org = tenant
    sahab.start_worker("w1", concurrency=2)
    region_two = openstack.connect(cloud="sahab-devcloud-regiontwo", api_timeout=60)
    try:
        rabat = ask(api, owner, org, "prod", region="rabat-1", vcpus=1)
        casablanca = ask(api, owner, org, "prod", region="casablanca-1", vcpus=3)
        done = [wait_for(api, owner, r["id"], FINAL, 400) for r in (rabat, casablanca)]
        assert [r["state"] for r in done] == ["active", "active"], (done, sahab.log("w1"))
        one, two = (api.get(f"/v1/projects/{r['project_id']}", headers=owner).json() for r in done)
        assert one["openstack_project_id"] != two["openstack_project_id"]
        assert one["outputs"]["region"] == "RegionOne" and two["outputs"]["region"] == "RegionTwo"
        assert read_quota(cloud, one["openstack_project_id"])["vcpus"] == 1
        assert read_quota(region_two, two["openstack_project_id"])["vcpus"] == 3
        # Each region's Nova holds only its own project's quota.
        assert read_quota(region_two, one["openstack_project_id"])["vcpus"] != 1
        assert region_two.network.get_network(two["outputs"]["network_id"]) is not None
        for project in (one, two):
            api.post(f"/v1/projects/{project['id']}/decommission", headers=owner).raise_for_status()
        for request in done:
            assert wait_for(api, owner, request["id"], {"decommissioned"}, 300)["state"] == "decommissioned"
        assert region_two.network.find_network(two["outputs"]["network_id"], ignore_missing=True) is None
    finally:
        cleanup(region_two, org, keystone=False)
        region_two.close()
        cleanup(cloud, org)
