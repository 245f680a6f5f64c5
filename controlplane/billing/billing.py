"""What billing needs besides the session and the caller, built once per process (ServiceDependencies.billing)."""

from __future__ import annotations

from dataclasses import dataclass, field

from controlplane.billing.discounts import DiscountSource, NoDiscounts
from controlplane.billing.prices import PriceList


@dataclass(frozen=True)
class Billing:
    prices: PriceList
    discounts: DiscountSource = field(default_factory=NoDiscounts)
