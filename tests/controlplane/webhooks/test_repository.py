"""The visibility rule on the real databases: an organisation's deliveries are listed and fetched only by
callers who may see the organisation (a stored member, one its token claims, or staff)."""

from __future__ import annotations

from controlplane.domain.states import MemberRole
from controlplane.persistence.database import transaction
from controlplane.webhooks import repository
from tests import factories


def test_a_caller_sees_its_organisations_deliveries_and_staff_see_all(sessions):
    with transaction(sessions) as session:
        stored = factories.organisation(session, admin="amina")
        claimed = factories.organisation(session, admin="karim")
        other = factories.organisation(session, admin="karim")
        deliveries = {org.id: factories.webhook_delivery(session, org.id).id for org in (stored, claimed, other)}
    amina = factories.person("amina", claimed_organisations={claimed.id: MemberRole.ADMIN})
    with transaction(sessions) as session:
        for org in (stored, claimed):
            assert [d.id for d in repository.page_visible(session, amina, org.id, None, 10).items] == [
                deliveries[org.id]
            ]
            assert repository.get_visible(session, amina, org.id, deliveries[org.id]) is not None
        assert repository.page_visible(session, amina, other.id, None, 10).items == []
        assert repository.get_visible(session, amina, other.id, deliveries[other.id], for_update=True) is None
        # a delivery is found under its own organisation only
        assert repository.get_visible(session, amina, stored.id, deliveries[claimed.id]) is None
        for staff in (factories.approver(), factories.operator()):
            assert [d.id for d in repository.page_visible(session, staff, other.id, None, 10).items] == [
                deliveries[other.id]
            ]
            assert repository.get_visible(session, staff, other.id, deliveries[other.id]) is not None
