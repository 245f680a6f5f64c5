"""The visibility rule on the real databases: a caller lists and fetches the organisations it is a stored
member of or its token claims; staff see every one."""

from __future__ import annotations

from controlplane.domain.states import MemberRole
from controlplane.organisations import repository
from controlplane.persistence.database import transaction
from controlplane.persistence.models import WebhookDelivery
from tests import factories


def test_a_caller_sees_its_stored_and_claimed_organisations_and_staff_see_all(sessions):
    with transaction(sessions) as session:
        stored = factories.organisation(session, admin="amina")
        claimed = factories.organisation(session, admin="karim")
        other = factories.organisation(session, admin="karim")
        delivery = factories.webhook_delivery(session, other.id)
    amina = factories.person("amina", claimed_organisations={claimed.id: MemberRole.MEMBER})
    with transaction(sessions) as session:
        listed = {o.id for o in repository.page_visible(session, amina, None, 100).items}
        assert {stored.id, claimed.id} <= listed and other.id not in listed
        assert repository.get_visible(session, amina, claimed.id) is not None
        assert repository.get_visible(session, amina, other.id) is None
        assert repository.visible_row(session, amina, WebhookDelivery, delivery.id) is None
        for staff in (factories.approver(), factories.operator()):
            assert {stored.id, claimed.id, other.id} <= {
                o.id for o in repository.page_visible(session, staff, None, 100).items
            }
            assert repository.get_visible(session, staff, other.id) is not None
            assert repository.visible_row(session, staff, WebhookDelivery, delivery.id) is not None
        assert repository.page_visible(session, factories.person("nobody"), None, 100).items == []
