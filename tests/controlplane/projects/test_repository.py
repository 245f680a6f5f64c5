"""The visibility rule on the real databases: a caller lists and fetches the projects of the organisations
it is a stored member of or its token claims; staff see every one."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from controlplane.domain.states import MemberRole
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Project
from controlplane.projects import repository
from tests import factories


def test_a_caller_sees_its_organisations_projects_and_staff_see_all(sessions):
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        stored = factories.active_project(session, factories.organisation(session, admin="amina").id, created_at=now)
        claimed_org = factories.organisation(session, admin="karim")
        claimed = factories.active_project(session, claimed_org.id, created_at=now)
        other = factories.active_project(session, factories.organisation(session, admin="karim").id, created_at=now)
    amina = factories.person("amina", claimed_organisations={claimed_org.id: MemberRole.MEMBER})
    with transaction(sessions) as session:
        assert {p.id for p in repository.page_visible(session, amina, cursor=None, limit=100).items} >= {
            stored.id,
            claimed.id,
        }
        assert other.id not in {p.id for p in repository.page_visible(session, amina, cursor=None, limit=100).items}
        assert other.id not in {p.id for p in repository.live_visible(session, amina)}
        assert other.id not in set(session.scalars(repository.visible(amina, select(Project.id))))
        assert repository.get_visible(session, amina, claimed.id) is not None
        assert repository.get_visible(session, amina, other.id, for_update=True) is None
        assert repository.live_in_visible(session, amina, other.organisation_id, "rabat-1", other.environment) is None
        for staff in (factories.approver(), factories.operator()):
            assert repository.get_visible(session, staff, other.id) is not None
            assert {stored.id, claimed.id, other.id} <= {p.id for p in repository.live_visible(session, staff)}
        assert repository.live_visible(session, factories.person("nobody")) == []
