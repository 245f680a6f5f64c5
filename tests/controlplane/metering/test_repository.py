"""Metering's repository on the real databases: a caller reads only its organisations' projects and drift;
and the collection's store and notify steps, worked out without a session."""

from __future__ import annotations

from datetime import UTC, datetime

from controlplane.metering import repository
from controlplane.metering.collect import Reading, RegionAnswer, Target, plan_alerts, plan_store
from controlplane.metering.reader import BulkQuotas
from controlplane.persistence.database import transaction
from controlplane.persistence.models import ProjectMetering
from tests import factories

NOW = datetime(2026, 11, 5, 12, tzinfo=UTC)


def test_a_member_reads_only_its_organisations_projects_and_drift_and_staff_read_all(sessions):
    with transaction(sessions) as session:
        mine = factories.organisation(session, admin="amina")
        theirs = factories.organisation(session, admin="youssef")
        projects = {
            org.id: factories.active_project(session, org.id, created_at=NOW, environment="prod")
            for org in (mine, theirs)
        }
        for project in projects.values():
            session.add(ProjectMetering(project_id=project.id, measured_at=NOW, drift=[{"kind": "missing"}]))
        session.flush()

        def seen(principal):
            visible = repository.visible_projects(session, principal)
            drift = repository.visible_drift(session, principal)
            return {p.organisation_id for p in visible}, {p.organisation_id for p, _ in drift}

        assert seen(factories.person("amina")) == ({mine.id}, {mine.id})
        assert seen(factories.person("nobody")) == (set(), set())
        assert seen(factories.operator()) == ({mine.id, theirs.id}, {mine.id, theirs.id})
        narrowed = repository.visible_projects(session, factories.operator(), organisation_id=theirs.id)
        assert [p.id for p in narrowed] == [projects[theirs.id].id]


def _target(project_id: str, *, notified: dict[str, int] | None = None, has_metering: bool = True) -> Target:
    return Target(
        project_id=project_id,
        organisation_id="org_a",
        region_id="rabat-1",
        environment="prod",
        openstack_project_id=f"os-{project_id}",
        granted={"vcpus": 10},
        updated_at=NOW,
        has_metering=has_metering,
        quota=None,
        quota_checked_at=None,
        notified=notified,
        openstack_project_name=None,
    )


def test_the_store_step_reads_an_answered_project_and_keeps_a_failed_one_as_it_was():
    read, failed = _target("prj_read", has_metering=False), _target("prj_failed")
    answers = {
        "rabat-1": RegionAnswer(
            capacity=(None, "TimeoutError: no answer"),
            projects=({"os-prj_read": "sahab-read", "os-prj_failed": "sahab-failed"}, None),
            usage=({"os-prj_read": {"vcpus": 4}}, None),
            bulk_quotas=(BulkQuotas({"os-prj_read": {"vcpus": 10}}, {}), None),
            quotas={"os-prj_failed": (None, "HTTP 503")},
        )
    }
    plan = plan_store([read, failed], {"prj_failed"}, answers, {"prj_read", "prj_failed"}, NOW, NOW)
    assert plan.regions == {"rabat-1": (None, "TimeoutError: no answer")}
    assert [row["project_id"] for row in plan.inserts] == ["prj_read"] and plan.updates == []
    assert plan.inserts[0]["used"]["vcpus"] == 4 and plan.inserts[0]["quota"] == {"vcpus": 10}
    assert plan.failed == {"prj_failed": "quotas: HTTP 503"} and plan.read == 1
    assert [s["project_id"] for s in plan.samples] == ["prj_read"]
    assert plan_store([read], set(), answers, set(), NOW, NOW).inserts == []  # decommissioned meanwhile


def test_the_notify_step_announces_a_crossing_once_and_only_to_an_organisation_with_a_webhook():
    reading = Reading(_target("prj_a"), {"vcpus": 10}, {"vcpus": 9})
    levels, alerts = plan_alerts([reading], {"org_a"}, NOW)
    assert [level["project_id"] for level in levels] == ["prj_a"] and levels[0]["notified"]["vcpus"] > 0
    assert [(a.organisation_id, a.payload["resource"], a.payload["used"]) for a in alerts] == [("org_a", "vcpus", 9)]
    assert plan_alerts([reading], set(), NOW)[1] == []
    again = Reading(_target("prj_a", notified=levels[0]["notified"]), {"vcpus": 10}, {"vcpus": 9})
    assert plan_alerts([again], {"org_a"}, NOW) == ([], [])


def test_capacity_reading_is_stored_per_region(sessions):
    with transaction(sessions) as session:
        stored = repository.region_metering(session, "rabat-1")
        stored.capacity, stored.used, stored.measured_at = {"vcpus": 64}, {"vcpus": 3}, NOW
    with transaction(sessions) as session:
        assert repository.region_readings(session)["rabat-1"].capacity == {"vcpus": 64}
