"""Billing test doubles and price lists."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from controlplane.billing.discounts import Discount
from controlplane.billing.prices import PriceList, parse_price_list


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
    common = {"ram_mib": {"basis": "granted", "unit": "GiB-hour", "per": 1024, "business": "0.03", "agency": "0.02"},
              "volume_gib": {"basis": "measured", "unit": "GiB-hour", "business": "0.001", "agency": "0.0005"}}
    return parse_price_list({"currencies": {"business": "MAD", "agency": "CU"}, "versions": [
        {"version": "v1", "effective": date(2026, 1, 1), "resources": {
            "vcpus": {"basis": "granted", "unit": "vCPU-hour", "business": "0.25", "agency": "0.18"}, **common}},
        {"version": "v2", "effective": date(2026, 3, 16), "resources": {
            "vcpus": {"basis": "granted", "unit": "vCPU-hour", "business": "0.30", "agency": "0.20"}, **common}},
    ]}, "test prices")
