"""Migration 0009 on both databases: a project metered before it keeps its last reading as its last
quota check (so the checks spread instead of all running at once) and gets its Keystone name."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.script import ScriptDirectory
from sqlalchemy import text

from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.persistence.migrate import alembic_config, downgrade, upgrade
from controlplane.persistence.models import ProjectMetering
from tests import factories


def test_existing_readings_become_quota_checks_and_names_are_filled(database_url, sessions):
    measured = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with transaction(sessions) as session:
        organisation = factories.organisation(session)
        project = factories.active_project(session, organisation.id, environment="prod", created_at=measured)
        project.openstack_project_id = "os-1"
        project_id, expected = project.id, f"sahab-{organisation.id}-rabat-1-prod"
        session.add(
            ProjectMetering(project_id=project_id, measured_at=measured, quota={"vcpus": 4}, used={}, notified={})
        )
    sessions.kw["bind"].dispose()

    before = ScriptDirectory.from_config(alembic_config(database_url)).get_revision("0009").down_revision
    downgrade(database_url, str(before))
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE project_metering SET openstack_project_name = NULL"))
    engine.dispose()
    upgrade(database_url)

    engine = make_engine(database_url)
    with transaction(make_session_factory(engine)) as session:
        row = session.get_one(ProjectMetering, project_id)
        assert (row.quota_checked_at, row.openstack_project_name) == (measured, expected)
    engine.dispose()
