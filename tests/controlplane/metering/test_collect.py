"""The collection with a fake cloud: samples, last usage, drift, failures isolated, alerts once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from controlplane.metering.alerts import crossings, level, sign, verify
from controlplane.persistence.database import transaction
from controlplane.persistence.models import MeteringRun, Project, ProjectMetering, RegionMetering, UsageSample


def granted(project: Project) -> dict[str, int]:
    return dict(project.granted)


def test_collection_stores_samples_last_usage_and_capacity(sessions, collector, clouds, active_project, clock):
    project = active_project()
    clouds["rabat-1"].set(project.openstack_project_id, granted(project), {"vcpus": 2, "ram_mib": 1024})
    result = collector.collect()
    assert (result.projects, result.read, result.failed, result.drifts) == (1, 1, {}, 0)
    with transaction(sessions) as session:
        stored = session.get_one(Project, project.id)
        assert stored.last_usage["vcpus"] == 2 and stored.last_usage_at == clock.now()
        assert stored.metering_error is None
        sample = session.scalars(select(UsageSample)).one()
        assert sample.used["ram_mib"] == 1024 and sample.quota == granted(project)
        assert session.get_one(RegionMetering, "rabat-1").capacity == {"vcpus": 16, "ram_mib": 32768}
        assert session.scalars(select(MeteringRun)).one().projects == 1


def test_drift_kinds_are_found(sessions, collector, clouds, active_project):
    changed, over, gone = active_project("a"), active_project("b"), active_project("c")
    quota = granted(changed)
    clouds["rabat-1"].set(changed.openstack_project_id, {**quota, "vcpus": 99}, {})
    clouds["rabat-1"].set(over.openstack_project_id, quota, {"instances": quota["instances"] + 1})
    # `gone` is not in the cloud's project list
    collector.collect()
    with transaction(sessions) as session:
        drift = {row.project_id: row.drift for row in session.scalars(select(ProjectMetering))}
    assert drift[changed.id] == [
        {"kind": "quota_changed", "resource": "vcpus", "granted": quota["vcpus"], "quota": 99, "used": 0}
    ]
    assert [d["kind"] for d in drift[over.id]] == ["usage_above_quota"]
    assert drift[gone.id][0]["kind"] == "project_missing"


def test_a_failing_project_and_a_slow_region_do_not_block_the_others(sessions, collector, clouds, active_project):
    ok, broken, slow = active_project("ok"), active_project("broken"), active_project("slow")
    for p in (ok, broken, slow):
        clouds["rabat-1"].set(p.openstack_project_id, granted(p), {"vcpus": 1})
    clouds["rabat-1"].fail[broken.openstack_project_id] = RuntimeError("nova said 500")
    clouds["rabat-1"].delay[slow.openstack_project_id] = 5.0  # beyond the collector's deadline
    clouds["casablanca-1"].fail["capacity"] = ConnectionError("keystone unreachable")
    result = collector.collect()
    assert result.read == 1
    assert "nova said 500" in result.failed[broken.id]
    assert "TimeoutError" in result.failed[slow.id]
    assert "keystone unreachable" in result.regions_failed["casablanca-1"]
    with transaction(sessions) as session:
        assert session.get_one(Project, ok.id).metering_error is None
        assert "nova said 500" in session.get_one(Project, broken.id).metering_error
        assert session.get_one(RegionMetering, "casablanca-1").error.startswith("ConnectionError")
        assert session.get_one(RegionMetering, "rabat-1").error is None


def test_alerts_once_per_threshold_crossing(sessions, collector, clouds, active_project, notifier):
    project = active_project()
    quota = granted(project)  # small: vcpus 4
    cloud = clouds["rabat-1"]

    def run(vcpus: int) -> list[int]:
        cloud.set(project.openstack_project_id, quota, {"vcpus": vcpus})
        before = len(notifier.sent)
        collector.collect()
        return [a.payload["threshold"] for a, _ in notifier.sent[before:]]

    # No webhook configured: nothing is sent.
    assert run(4) == []
    from controlplane.persistence.models import Organisation, ProjectMetering

    with transaction(sessions) as session:
        organisation = session.get_one(Organisation, project.organisation_id)
        organisation.alert_webhook_url, organisation.alert_webhook_secret = "https://hooks.example/x", "s3cret"
        session.get_one(ProjectMetering, project.id).notified = {}
    assert run(2) == []  # 50 %
    assert run(3) == []  # 75 %
    assert run(4) == [90]  # 100 %: straight past both: announce the highest once
    assert run(4) == []  # still there: not repeated
    assert run(3) == []  # back to 75 %: below both, re-armed
    assert run(4) == [90]
    alert, stamp = notifier.sent[-1]
    assert alert.payload["resource"] == "vcpus" and alert.payload["quota"] == 4
    assert alert.organisation_id == project.organisation_id


def test_threshold_helpers_and_signature():
    assert (level(79, 100), level(80, 100), level(95, 100), level(5, 0), level(5, -1)) == (0, 80, 90, 0, 0)
    notified, announce = crossings({}, {"vcpus": 10}, {"vcpus": 8})
    assert notified == {"vcpus": 80} and announce == [("vcpus", 80)]
    notified, announce = crossings(notified, {"vcpus": 10}, {"vcpus": 9})
    assert announce == [("vcpus", 90)]
    body = b'{"a":1}'
    signature = sign("key", 1700000000, body)
    assert signature.startswith("sha256=") and verify("key", "1700000000", body, signature)
    assert not verify("key", "1700000001", body, signature)


def test_samples_older_than_the_retention_are_dropped(sessions, deps, clouds, active_project, clock, notifier):
    from controlplane.metering.collect import MeteringCollector

    collector = MeteringCollector(
        sessions,
        deps.catalogue,
        deps.clock,
        lambda region: clouds[region.id],
        workers=4,
        timeout=0.5,
        notifier=notifier,
        retention=timedelta(days=2),
    )
    project = active_project()
    clouds["rabat-1"].set(project.openstack_project_id, granted(project), {"vcpus": 1})
    collector.collect()
    clock.advance(days=1)
    collector.collect()
    clock.advance(days=1, seconds=1)
    collector.collect()
    with transaction(sessions) as session:
        kept = [s.at for s in session.scalars(select(UsageSample).order_by(UsageSample.at))]
    assert kept == [clock.now() - timedelta(days=1, seconds=1), clock.now()]


def test_nova_and_cinder_quotas_are_read_once_then_spread_and_at_once_after_sahab_changes_a_project(
    sessions, collector, clouds, active_project, clock
):
    projects = [active_project(f"e{i}") for i in range(3)]
    cloud = clouds["rabat-1"]
    for p in projects:
        cloud.set(p.openstack_project_id, granted(p), {"vcpus": 1})
    assert collector.collect().quota_checks == 3
    assert sorted(cloud.quota_reads()) == sorted(p.openstack_project_id for p in projects)

    # Changed outside Sahab: Neutron's (listed in bulk) shows at once, Nova's at the project's next check.
    changed = projects[0]
    cloud.set(changed.openstack_project_id, {**granted(changed), "vcpus": 99, "ports": 7}, {"vcpus": 1})
    cloud.calls.clear()
    clock.advance(minutes=5)
    result = collector.collect()
    assert result.quota_checks == 1 == len(cloud.quota_reads())  # ceil(3 projects x 5 min / 60 min)
    with transaction(sessions) as session:
        kinds = {(d["kind"], d["resource"]) for d in session.get_one(ProjectMetering, changed.id).drift}
    assert ("quota_changed", "ports") in kinds
    assert (("quota_changed", "vcpus") in kinds) == (cloud.quota_reads() == [changed.openstack_project_id])

    # Sahab re-applied the project (its updated_at moves when the lease is released): checked at once.
    clock.advance(minutes=1)
    with transaction(sessions) as session:
        session.get_one(Project, changed.id).updated_at = clock.now()
    cloud.calls.clear()
    clock.advance(minutes=4)
    collector.collect()
    assert changed.openstack_project_id in cloud.quota_reads()
    with transaction(sessions) as session:
        metering = session.get_one(ProjectMetering, changed.id)
        assert metering.quota["vcpus"] == 99 and metering.quota_checked_at == clock.now()

    # Within an hour every project has been checked again.
    seen: set[str] = set()
    for _ in range(12):
        cloud.calls.clear()
        clock.advance(minutes=5)
        collector.collect()
        seen.update(cloud.quota_reads())
    assert seen == {p.openstack_project_id for p in projects}


def test_a_failed_listing_fails_its_region_only_and_nothing_is_overwritten(sessions, collector, clouds, active_project):
    project = active_project()
    clouds["rabat-1"].set(project.openstack_project_id, granted(project), {"vcpus": 2, "ports": 3})
    collector.collect()
    clouds["rabat-1"].set(project.openstack_project_id, granted(project), {"vcpus": 3, "ports": 4})
    clouds["rabat-1"].fail["ports"] = RuntimeError("neutron said 503")
    result = collector.collect()
    assert result.read == 0 and "ports: RuntimeError: neutron said 503" in result.failed[project.id]
    assert result.regions_failed == {}
    with transaction(sessions) as session:
        stored = session.get_one(Project, project.id)
        assert "neutron said 503" in stored.metering_error and stored.last_usage["vcpus"] == 2
        assert len(session.scalars(select(UsageSample)).all()) == 1


def test_usage_of_projects_sahab_does_not_hold_is_ignored_and_names_are_kept(
    sessions, collector, clouds, active_project
):
    project = active_project()
    cloud = clouds["rabat-1"]
    cloud.set(project.openstack_project_id, granted(project), {"instances": 1}, name="sahab-o-rabat-1-prod")
    cloud.set("someone-else", {"vcpus": 1}, {"vcpus": 50})
    result = collector.collect()
    assert (result.projects, result.read) == (1, 1)
    with transaction(sessions) as session:
        metering = session.get_one(ProjectMetering, project.id)
        assert metering.openstack_project_name == "sahab-o-rabat-1-prod"
        assert metering.used == {**{name: 0 for name in granted(project)}, "instances": 1}


def test_object_storage_is_read_from_the_account_for_usage_drift_and_alerts(
    sessions, collector, clouds, active_project, notifier
):
    from controlplane.persistence.models import Organisation

    project = active_project()
    quota = granted(project)  # small: object_gib 10 in rabat-1, which offers object storage
    assert quota["object_gib"] == 10
    cloud = clouds["rabat-1"]
    with transaction(sessions) as session:
        organisation = session.get_one(Organisation, project.organisation_id)
        organisation.alert_webhook_url, organisation.alert_webhook_secret = "https://hooks.example/x", "s3cret"
    cloud.set(project.openstack_project_id, quota, {"object_gib": 8})
    result = collector.collect()
    assert result.failed == {} and f"objects:{project.openstack_project_id}" in cloud.calls
    with transaction(sessions) as session:
        assert session.get_one(Project, project.id).last_usage["object_gib"] == 8
        assert session.get_one(ProjectMetering, project.id).drift == []
    assert [(a.payload["resource"], a.payload["threshold"]) for a, _ in notifier.sent] == [("object_gib", 80)]

    cloud.set(project.openstack_project_id, {**quota, "object_gib": 5}, {"object_gib": 8})  # changed behind Sahab
    collector.collect()
    with transaction(sessions) as session:
        drift = session.get_one(ProjectMetering, project.id).drift
    assert [(d["kind"], d["resource"], d["quota"]) for d in drift] == [
        ("quota_changed", "object_gib", 5),
        ("usage_above_quota", "object_gib", 5),
    ]

    cloud.fail[f"objects:{project.openstack_project_id}"] = RuntimeError("swift said 503")
    assert "object storage: RuntimeError: swift said 503" in collector.collect().failed[project.id]


def test_regions_without_object_storage_are_not_asked_for_accounts(sessions, deps, collector, clouds):
    assert not deps.region("casablanca-1").has_object_storage and deps.region("rabat-1").has_object_storage
    collector.collect()
    assert not [c for c in clouds["casablanca-1"].calls if c.startswith("objects:")]
