"""Billing test doubles and price lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from controlplane.billing.discounts import Discount
from controlplane.billing.prices import PriceList, parse_price_list
from controlplane.persistence.models import Organisation
from tests import factories


class FakeDiscounts:
    """A DiscountSource answering from a fixed map organisation id -> discounts."""

    def __init__(self, by_organisation: dict[str, list[Discount]] | None = None) -> None:
        self.by_organisation = by_organisation or {}
        self.asked: list[tuple[str, date, date]] = []

    def discounts(self, session: object, organisation_id: str, start: date, end: date) -> list[Discount]:
        self.asked.append((organisation_id, start, end))
        return [d for d in self.by_organisation.get(organisation_id, []) if d.start < end and d.end > start]


def fifty_percent(until: date, programme: str = "startup-2026") -> Discount:
    return Discount(date(2026, 1, 1), until, Decimal(50), programme)


def march_price_change() -> PriceList:
    """vCPU 0.25 MAD per hour until 16 March 2026, 0.30 from then; RAM and volumes unchanged."""
    common = {
        "ram_mib": {"basis": "granted", "unit": "GiB-hour", "per": 1024, "business": "0.03", "agency": "0.02"},
        "volume_gib": {"basis": "measured", "unit": "GiB-hour", "business": "0.001", "agency": "0.0005"},
    }
    return parse_price_list(
        {
            "currencies": {"business": "MAD", "agency": "CU"},
            "versions": [
                {
                    "version": "v1",
                    "effective": date(2026, 1, 1),
                    "resources": {
                        "vcpus": {"basis": "granted", "unit": "vCPU-hour", "business": "0.25", "agency": "0.18"},
                        **common,
                    },
                },
                {
                    "version": "v2",
                    "effective": date(2026, 3, 16),
                    "resources": {
                        "vcpus": {"basis": "granted", "unit": "vCPU-hour", "business": "0.30", "agency": "0.20"},
                        **common,
                    },
                },
            ],
        },
        "test prices",
    )


def at(day: int, hour: float = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC) + timedelta(hours=hour)


APRIL_FIRST = datetime(2026, 4, 1, 1, tzinfo=UTC)


def march_fixture(session: Session) -> tuple[Organisation, str, str]:
    """Project A: 4 vCPUs and 8 GiB granted all month, 100 GiB of volumes used until 10 March, 200 after.
    Project B: 2 vCPUs granted and 10 GiB used from 2 March 00:00 until its decommissioning on 5 March 12:00."""
    org = factories.organisation(session, admin="owner")
    a = factories.active_project(session, org.id, created_at=at(20, month=2), granted={"vcpus": 4, "ram_mib": 8192})
    factories.usage_sample(session, a, at(28, month=2), used={"volume_gib": 100}, quota={"vcpus": 4, "ram_mib": 8192})
    factories.usage_sample(session, a, at(10), used={"volume_gib": 200}, quota={"vcpus": 4, "ram_mib": 8192})
    b = factories.active_project(session, org.id, created_at=at(1), granted={"vcpus": 2})
    factories.usage_sample(session, b, at(2), used={"volume_gib": 10}, quota={"vcpus": 2, "ram_mib": -1})
    factories.decommissioned(session, b, at(5, 12))
    return org, a.id, b.id
