"""The visibility rule on the real databases: a caller lists and fetches the requests of the organisations
it is a stored member of or its token claims; staff see every one."""

from __future__ import annotations

from datetime import UTC, datetime

from controlplane.domain.states import MemberRole
from controlplane.persistence.database import transaction
from controlplane.quota_requests import repository
from tests import factories


def test_a_caller_sees_its_organisations_requests_and_staff_see_all(sessions):
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        stored = factories.active_project(session, factories.organisation(session, admin="amina").id, created_at=now)
        claimed_org = factories.organisation(session, admin="karim")
        claimed = factories.active_project(session, claimed_org.id, created_at=now)
        other = factories.active_project(session, factories.organisation(session, admin="karim").id, created_at=now)
    mine = {stored.current_request_id, claimed.current_request_id}
    amina = factories.person("amina", claimed_organisations={claimed_org.id: MemberRole.ADMIN})
    with transaction(sessions) as session:
        listed = {r.id for r in repository.page_visible(session, amina, cursor=None, limit=100).items}
        assert mine <= listed and other.current_request_id not in listed
        assert repository.get_visible(session, amina, claimed.current_request_id) is not None
        assert repository.get_visible(session, amina, other.current_request_id, for_update=True) is None
        for staff in (factories.approver(), factories.operator()):
            everything = {r.id for r in repository.page_visible(session, staff, cursor=None, limit=100).items}
            assert mine | {other.current_request_id} <= everything
            assert repository.get_visible(session, staff, other.current_request_id) is not None
        assert repository.page_visible(session, factories.person("nobody"), cursor=None, limit=100).items == []
