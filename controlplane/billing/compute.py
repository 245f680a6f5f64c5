"""A statement's lines, computed from the usage samples with metering.reports' integration.

Exactness and the rounding rule: a resource's usage over a stretch of time is the exact integral of
the samples' step function in unit-microseconds (metering.reports.statistics). Quantities, prices
and discounts are multiplied as exact fractions; each line's amount is then rounded ONCE, half up,
to 0.01 (its list amount before discount likewise, on its own). Totals are exact sums of the rounded
line amounts; the discount total is list total minus total. The quantity shown on a line is rounded to
6 decimals for display only.

A line is one (project, resource, price version, discount) over the month: the month is cut at every
price version's effective time and every discount's start and end, and stretches that share all four
are added before the rounding. A project counts from its first sample (the collection reads new
projects within one interval) until the end of the month, now (a draft), or its decommissioning,
whichever comes first: a decommissioned project's last reading is not carried past its removal.
Granted quota is the quota the collection read on the cloud (an unlimited -1 counts as 0)."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy.orm import Session

from controlplane.billing import repository
from controlplane.billing.discounts import Discount, DiscountSource, in_force
from controlplane.billing.prices import PriceList
from controlplane.domain.states import ProjectState
from controlplane.metering.reports import Series, project_series, statistics
from controlplane.metering.repository import load_points
from controlplane.persistence.models import Organisation

MICROSECONDS_PER_HOUR = 3_600_000_000
CENT = Fraction(1, 100)


def round_half_up(value: Fraction, step: Fraction = CENT) -> Decimal:
    """The one rounding of an amount: to a multiple of `step` (1/10^k), halves away from zero."""
    units = abs(value) / step
    whole = int(units + Fraction(1, 2))
    exponent = -len(str(step.denominator)) + 1
    return (Decimal(whole if value >= 0 else -whole) * Decimal(step.numerator)).scaleb(exponent)


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """'2026-03' -> [2026-03-01T00:00Z, 2026-04-01T00:00Z)."""
    year, month = (int(part) for part in period.split("-"))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def period_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def previous_period(moment: datetime) -> str:
    start, _ = month_bounds(period_of(moment))
    return period_of(start - timedelta(days=1))


@dataclass
class Computed:
    organisation_id: str
    period: str
    currency: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    price_versions: list[str] = field(default_factory=list)

    @property
    def list_total(self) -> Decimal:
        return sum((Decimal(line["list_amount"]) for line in self.lines), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return sum((Decimal(line["amount"]) for line in self.lines), Decimal("0.00"))

    @property
    def discount_total(self) -> Decimal:
        return self.list_total - self.total


def _cuts(start: datetime, stop: datetime, prices: PriceList, discounts: list[Discount]) -> list[datetime]:
    def midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    moments = {start, stop}
    moments.update(v.effective_at for v in prices.versions)
    for discount in discounts:
        moments.update((midnight(discount.start), midnight(discount.end)))
    return sorted(m for m in moments if start <= m <= stop)


def _non_negative(values: dict[str, int]) -> dict[str, int]:
    return {name: max(int(value), 0) for name, value in values.items()}


@dataclass(frozen=True)
class _Readings:
    """One project's readings of one basis over the month, sorted, with the one carried in."""

    points: list[tuple[datetime, dict[str, int]]]
    times: list[datetime]
    carried: tuple[datetime, dict[str, int]] | None

    def window(self, a: datetime, b: datetime) -> Series:
        """The step function on [a, b): the value holding at a, then the readings inside."""
        first, last = bisect_left(self.times, a), bisect_left(self.times, b)
        holding = self.points[first - 1] if first else self.carried
        return project_series(holding, self.points[first:last], a)


def _readings(
    points: list[tuple[datetime, dict[str, int]]], carried: tuple[datetime, dict[str, int]] | None
) -> _Readings:
    clean = [(at, _non_negative(values)) for at, values in points]
    return _Readings(clean, [at for at, _ in clean], (carried[0], _non_negative(carried[1])) if carried else None)


def compute(
    session: Session,
    organisation: Organisation,
    period: str,
    now: datetime,
    prices: PriceList,
    discount_source: DiscountSource,
) -> Computed:
    start, end = month_bounds(period)
    stop = min(end, now)
    result = Computed(organisation.id, period, prices.currency(organisation.kind))
    if stop <= start:
        return result
    projects = repository.projects_created_before(session, organisation.id, stop)
    removed = repository.decommissioned_at(
        session, [p.id for p in projects if p.state == ProjectState.DECOMMISSIONED.value]
    )
    ids = [p.id for p in projects]
    series_by_basis = {
        "measured": load_points(session, ids, start, stop, "used"),
        "granted": load_points(session, ids, start, stop, "quota"),
    }
    discounts = discount_source.discounts(session, organisation.id, start.date(), end.date())
    cuts = _cuts(start, stop, prices, discounts)

    quantities: dict[tuple[str, str, str, Decimal, str | None], Fraction] = defaultdict(Fraction)
    for project in projects:
        project_stop = min(stop, removed.get(project.id, stop))
        readings = {
            basis: _readings(samples.get(project.id, []), carried.get(project.id))
            for basis, (samples, carried) in series_by_basis.items()
        }
        for a, b in zip(cuts, cuts[1:], strict=False):
            b = min(b, project_stop)
            if b <= a:
                continue
            version = prices.at(a)
            if version is None or not version.resources:
                continue
            discount = in_force(discounts, a.date())
            integrals = {basis: statistics(one.window(a, b), b)["resources"] for basis, one in readings.items()}
            for name, price in version.resources.items():
                micro = integrals[price.basis].get(name, {}).get("unit_microseconds", 0)
                if not micro:
                    continue
                key = (
                    project.id,
                    name,
                    version.version,
                    discount.percent if discount else Decimal(0),
                    discount.programme if discount else None,
                )
                quantities[key] += Fraction(micro, MICROSECONDS_PER_HOUR * price.per)

    by_project = {p.id: p for p in projects}
    versions_used: list[str] = []
    for (project_id, name, version_name, percent, programme), quantity in sorted(
        quantities.items(), key=lambda item: (item[0][0], item[0][1], prices.version(item[0][2]).effective, item[0][3])
    ):
        price = prices.version(version_name).resources[name]
        unit_price = price.prices[organisation.kind]
        gross = quantity * Fraction(unit_price)
        net = gross * (100 - Fraction(percent)) / 100
        project = by_project[project_id]
        result.lines.append(
            {
                "project_id": project_id,
                "region_id": project.region_id,
                "environment": project.environment,
                "resource": name,
                "basis": price.basis,
                "unit": price.unit,
                "price_version": version_name,
                "quantity": str(round_half_up(quantity, Fraction(1, 10**6))),
                "unit_price": str(unit_price),
                "discount_percent": str(percent),
                "programme": programme,
                "list_amount": str(round_half_up(gross)),
                "amount": str(round_half_up(net)),
            }
        )
        if version_name not in versions_used:
            versions_used.append(version_name)
    result.price_versions = sorted(versions_used, key=lambda v: prices.version(v).effective)
    return result


def hours_in_month(moment: datetime) -> int:
    start, end = month_bounds(period_of(moment))
    return int((end - start).total_seconds()) // 3600


def estimate(
    prices: PriceList, kind: str, amounts: dict[str, int], moment: datetime, discount: Discount | None
) -> dict[str, Any]:
    """What holding `amounts` for the whole month of `moment` costs at the prices in force then: every
    priced resource as if fully used (an upper bound for measured ones), the discount in force applied.
    Rounded like a statement: once per resource line."""
    version = prices.at(moment)
    hours = hours_in_month(moment)
    total = Decimal("0.00")
    lines = []
    for name, price in version.resources.items() if version else ():
        amount = int(amounts.get(name, 0))
        if amount <= 0:
            continue
        gross = Fraction(amount * hours, price.per) * Fraction(price.prices[kind])
        net = round_half_up(gross * (100 - Fraction(discount.percent if discount else 0)) / 100)
        total += net
        lines.append({"resource": name, "quantity": amount, "unit": price.unit, "amount": str(net)})
    return {
        "amount": str(total),
        "currency": prices.currency(kind),
        "price_version": version.version if version else None,
        "hours": hours,
        "discount_percent": str(discount.percent) if discount else "0",
        "programme": discount.programme if discount else None,
        "lines": lines,
    }
