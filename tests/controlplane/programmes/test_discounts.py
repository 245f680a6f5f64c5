"""The discounts billing reads: the price an enrolment was granted at, over the days it covered, clipped."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from controlplane.billing.discounts import Discount
from controlplane.persistence.database import transaction
from controlplane.programmes import service
from controlplane.programmes.discounts import ProgrammeDiscounts
from tests import factories


def test_discounts_cover_the_enrolment_days_only(sessions, deps, clock):
    clock._now = datetime(2026, 3, 15, 9, tzinfo=UTC)
    with transaction(sessions) as session:
        startup = factories.startup(session).id
        textiles = factories.organisation(session, admin="t", sector="textiles", employees=30).id
        assert service.apply(session, deps, factories.person(), "startup-launch", startup).state == "enrolled"
        pending = service.apply(session, deps, factories.person("t"), "digital-transition", textiles)
    source = ProgrammeDiscounts()
    with transaction(sessions) as session:
        assert source.discounts(session, startup, date(2026, 3, 1), date(2026, 4, 1)) == [
            Discount(date(2026, 3, 15), date(2026, 4, 1), Decimal("100.00"), "startup-launch")
        ]
        # the enrolment ends on 2027-03-15: that day is paid at the listed price
        assert source.discounts(session, startup, date(2027, 3, 1), date(2027, 4, 1)) == [
            Discount(date(2027, 3, 1), date(2027, 3, 15), Decimal("100.00"), "startup-launch")
        ]
        assert source.discounts(session, startup, date(2027, 4, 1), date(2027, 5, 1)) == []
        assert source.discounts(session, textiles, date(2026, 3, 1), date(2026, 4, 1)) == []  # pending: nothing
        service.approve(session, deps, factories.approver("amal"), pending.id, "checked")
        assert source.discounts(session, textiles, date(2026, 3, 1), date(2026, 4, 1)) == [
            Discount(date(2026, 3, 15), date(2026, 4, 1), Decimal("50.00"), "digital-transition")
        ]
