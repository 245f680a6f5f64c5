"""Programme discounts and credits, as billing sees them. Programmes (controlplane/programmes/discounts.py)
implement DiscountSource; billing uses NoDiscounts until it is wired, and tests use a fake.

A Discount holds from `start` (inclusive) to `end` (exclusive), whole UTC days. A free programme is a
100 % discount (that is how credits appear on a statement). Where discounts overlap, the largest
percent holds: programmes do not stack."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Discount:
    start: date
    end: date
    percent: Decimal
    programme: str


class DiscountSource(Protocol):
    def discounts(self, session: Session, organisation_id: str, start: date, end: date) -> list[Discount]:
        """The discounts of the organisation that overlap [start, end)."""
        ...


class NoDiscounts:
    def discounts(self, session: Session, organisation_id: str, start: date, end: date) -> list[Discount]:
        return []


def in_force(discounts: list[Discount], day: date) -> Discount | None:
    """The discount holding on `day`: the largest percent among those covering it."""
    covering = [d for d in discounts if d.start <= day < d.end]
    return max(covering, key=lambda d: d.percent, default=None)
