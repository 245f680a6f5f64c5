"""Metering against the local OpenStack: a Keystone project with quotas (made directly as admin,
for speed) registered as an active Sahab project, a server (m1.tiny, image tiny, with a NIC) and a
volume in it; the real collection (OpenStackReader) reads usage, capacity and drift; the report
and the metrics show them. Everything created is deleted."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from controlplane.composition import build_worker
from controlplane.contract import quota_fields
from controlplane.domain.resources import PRESETS, as_plain
from controlplane.metering.reports import usage_report
from controlplane.metrics import MeteringMetrics
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Project, ProjectMetering, RegionMetering
from controlplane.settings import Settings
from tests import factories
from tests.support.devcloud import cleanup_project
from tests.support.fakes import RecordingQueue
from tests.support.objects import account_url, set_object_quota

pytestmark = [pytest.mark.devcloud, pytest.mark.timeout(600)]


def set_quota(admin, project_id: str, quota: dict[str, int]) -> None:
    admin.compute.update_quota_set(project_id, **quota_fields(quota, "compute"))
    admin.block_storage.update_quota_set(project_id, **quota_fields(quota, "block-storage"))
    # the SDK's neutron attribute names (e.g. floating_ips, not floatingip)
    sdk = {
        "network": "networks",
        "subnet": "subnets",
        "port": "ports",
        "router": "routers",
        "floatingip": "floating_ips",
        "security_group": "security_groups",
        "security_group_rule": "security_group_rules",
    }
    admin.network.update_quota(project_id, **{sdk[k]: v for k, v in quota_fields(quota, "network").items()})
    set_object_quota(admin, project_id, quota["object_gib"])


def test_collection_reads_real_usage_capacity_and_drift(cloud, sqlite_url, issuer, tmp_path):
    admin = cloud
    runtime = build_worker(
        Settings(
            database_url=sqlite_url,
            data_dir=tmp_path / "data",
            oidc_issuer=issuer.url,
            broker_url="memory://",
            demo_accounts=False,
            metrics_per_project=True,
        ),
        queue=RecordingQueue(),
    )
    runtime.prepare_database()
    granted = as_plain(PRESETS["small"])
    with transaction(runtime.sessions) as session:
        org = factories.organisation(session)
    # The Keystone project is named as provisioning names it: the metrics' `tenant` label is that name.
    environment = f"metering{uuid.uuid4().hex[:8]}"  # unique: the devcloud is shared
    name = f"sahab-{org.id}-rabat-1-{environment}"
    proj = admin.identity.create_project(name=name, domain_id="default", description="sahab metering test")
    conn = None
    try:
        set_quota(admin, proj.id, granted)
        user = admin.identity.find_user("admin", domain_id="default", ignore_missing=False)
        role = admin.identity.find_role("admin", ignore_missing=False)
        admin.identity.assign_project_role_to_user(proj, user, role)
        conn = admin.connect_as_project({"id": proj.id, "name": proj.name, "domain_id": proj.domain_id})
        now = datetime.now(UTC)
        with transaction(runtime.sessions) as session:
            project = factories.active_project(
                session, org.id, environment=environment, granted=granted, created_at=now
            )
            project.openstack_project_id = proj.id
            project_id = project.id

        net = conn.network.create_network(name=f"{name}-net")
        conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.78.0.0/24", name=f"{name}-subnet")
        tiny = admin.compute.find_flavor("m1.tiny", ignore_missing=False)
        image = admin.image.find_image("tiny", ignore_missing=False)
        server = conn.compute.create_server(
            name=f"{name}-vm", flavor_id=tiny.id, image_id=image.id, networks=[{"uuid": net.id}]
        )
        conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], wait=120)
        volume = conn.block_storage.create_volume(name=f"{name}-vol", size=2)
        conn.block_storage.wait_for_status(volume, status="available", failures=["error"], wait=60)

        # One small object in the project's Swift account (admin is its reseller admin): 1 GiB used, rounded up.
        account = account_url(admin, proj.id)
        admin.session.put(f"{account}/metering", headers={"Content-Length": "0"}).raise_for_status()
        admin.session.put(f"{account}/metering/one", data=b"x" * 1000).raise_for_status()

        started = datetime.now(UTC)
        result = runtime.metering.collect()
        print(f"\nreal collection: {result.projects} project(s), {result.seconds:.2f}s (incl. first authentication)")
        assert result.failed == {} and result.regions_failed == {} and result.read == 1
        with transaction(runtime.sessions) as session:
            stored = session.get_one(Project, project_id)
            metering = session.get_one(ProjectMetering, project_id)
            capacity = session.get_one(RegionMetering, "rabat-1").capacity
        used = stored.last_usage
        assert (used["vcpus"], used["ram_mib"], used["instances"]) == (1, tiny.ram, 1)
        assert (used["volume_gib"], used["volumes"]) == (2, 1)
        assert used["networks"] == 1 and used["subnets"] == 1 and used["ports"] >= 1
        assert used["object_gib"] == 1 and metering.quota["object_gib"] == granted["object_gib"]
        assert metering.quota == granted and metering.drift == [] and stored.metering_error is None
        assert capacity["vcpus"] > 0 and capacity["ram_mib"] > 0

        # A quota changed outside Sahab is drift; the second sample extends the report.
        admin.compute.update_quota_set(proj.id, cores=granted["vcpus"] + 3)
        time.sleep(2)  # time itself: the report integrates over the interval between the two samples
        again = runtime.metering.collect()
        print(f"second collection (connection reused): {again.seconds:.2f}s")
        with transaction(runtime.sessions) as session:
            drift = session.get_one(ProjectMetering, project_id).drift
            rows = usage_report(
                session, factories.approver(), start=started, end=datetime.now(UTC), now=datetime.now(UTC)
            )
        assert drift == [
            {
                "kind": "quota_changed",
                "resource": "vcpus",
                "granted": granted["vcpus"],
                "quota": granted["vcpus"] + 3,
                "used": 1,
            }
        ]
        row = next(r for r in rows if r["project_id"] == project_id)
        assert row["samples"] == 2 and row["resources"]["vcpus"]["peak"] == 1
        assert 0 < row["vcpu_hours"] <= (datetime.now(UTC) - started).total_seconds() / 3600
        assert row["volume_gib_hours"] == pytest.approx(2 * row["vcpu_hours"], abs=2e-4)  # both rounded to 4 places
        assert row["object_gib_hours"] == pytest.approx(row["vcpu_hours"], abs=2e-4)

        registry = CollectorRegistry()
        registry.register(MeteringMetrics(runtime.sessions, runtime.catalogue, runtime.deps.clock, per_project=True))
        text = generate_latest(registry).decode()
        assert (
            f'openstack_nova_limits_vcpus_used{{project="{project_id}",region="rabat-1",tenant="{name}",tenant_id="{proj.id}"}} 1.0'
            in text
        )
        assert (
            f'openstack_cinder_limits_volume_used_gb{{project="{project_id}",region="rabat-1",tenant="{name}",tenant_id="{proj.id}"}} 2.0'
            in text
        )
        assert 'sahab_drift{kind="quota_changed",region="rabat-1"} 1.0' in text
        (object_used,) = [
            line
            for line in text.splitlines()
            if line.startswith("sahab_project_used{")
            and f'project="{project_id}"' in line
            and 'resource="object_bytes"' in line
        ]
        assert float(object_used.rsplit(" ", 1)[1]) == 2**30
    finally:
        for path in ("metering/one", "metering"):
            admin.session.delete(f"{account_url(admin, proj.id)}/{path}", raise_exc=False)
        errors = cleanup_project(admin, proj, conn)
        runtime.engine.dispose()
        assert not errors, errors
