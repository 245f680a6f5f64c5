"""The metering read model /metrics serves: usage per region from the stored readings, what it leaves of
the grantable capacity, and the sums reused until the next collection is recorded."""

from __future__ import annotations

from datetime import UTC, datetime

from controlplane.domain.resources import Resource
from controlplane.metering import readmodel
from controlplane.persistence.database import transaction
from controlplane.persistence.models import MeteringRun, ProjectMetering
from tests import factories

NOW = datetime(2026, 11, 5, 12, tzinfo=UTC)


def _run(session) -> None:
    session.add(MeteringRun(started_at=NOW, finished_at=NOW, duration_seconds=1.0, projects=1, failures=0, drifts=1))


def test_usage_is_summed_per_region_and_reused_until_the_next_collection(sessions, deps):
    rabat = deps.region("rabat-1")
    with transaction(sessions) as session:
        org = factories.organisation(session)
        for used in (3, 4):
            project = factories.active_project(session, org.id, created_at=NOW)
            session.add(
                ProjectMetering(
                    project_id=project.id, measured_at=NOW, used={"vcpus": used}, drift=[{"kind": "quota_changed"}]
                )
            )
        _run(session)
    with transaction(sessions) as session:
        view = readmodel.read(session, deps.catalogue, None, projects=False)
    usage = next(r for r in view.regions if r.region.id == "rabat-1")
    assert usage.used[Resource.VCPUS] == 7 and usage.drift["quota_changed"] == 2
    assert usage.unused[Resource.VCPUS] == rabat.effective_capacity()[Resource.VCPUS] - 7

    with transaction(sessions) as session:
        factories.active_project(session, org.id, created_at=NOW)  # not read by a collection yet
    with transaction(sessions) as session:
        again = readmodel.read(session, deps.catalogue, view, projects=False)
        assert again.totals is view.totals and again.projects == []
        _run(session)
    with transaction(sessions) as session:
        after_run = readmodel.read(session, deps.catalogue, again, projects=True)
    assert after_run.totals is not view.totals and len(after_run.projects) == 3
