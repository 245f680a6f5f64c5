"""The versioned price list: loaded once per process from a YAML file, checked whole at start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml

from controlplane.domain.resources import Resource
from controlplane.domain.states import OrganisationKind

DEFAULT_PRICE_LIST = Path(__file__).resolve().parent.parent / "catalogue" / "prices.yaml"
Basis = Literal["granted", "measured"]
BASES: tuple[str, ...] = ("granted", "measured")


@dataclass(frozen=True)
class ResourcePrice:
    resource: str
    basis: Basis
    unit: str
    per: int  # resource units per priced unit (1024 MiB per GiB)
    prices: dict[str, Decimal]  # organisation kind -> price of one priced unit-hour


@dataclass(frozen=True)
class PriceVersion:
    version: str
    effective: date
    resources: dict[str, ResourcePrice]

    @property
    def effective_at(self) -> datetime:
        return datetime.combine(self.effective, time(), tzinfo=UTC)


@dataclass(frozen=True)
class PriceList:
    currencies: dict[str, str]  # organisation kind -> currency code
    versions: tuple[PriceVersion, ...]  # oldest first

    def at(self, moment: datetime) -> PriceVersion | None:
        """The version in force at `moment`, None before the first one (nothing is charged then)."""
        found = None
        for version in self.versions:
            if version.effective_at <= moment:
                found = version
        return found

    def version(self, name: str) -> PriceVersion:
        return next(v for v in self.versions if v.version == name)

    def currency(self, kind: str) -> str:
        return self.currencies[kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "currencies": self.currencies,
            "versions": [
                {
                    "version": v.version,
                    "effective": v.effective.isoformat(),
                    "resources": {
                        name: {
                            "basis": p.basis,
                            "unit": p.unit,
                            "per": p.per,
                            "prices": {kind: str(amount) for kind, amount in p.prices.items()},
                        }
                        for name, p in v.resources.items()
                    },
                }
                for v in self.versions
            ],
        }


class PriceListError(ValueError):
    """The file is not a valid price list; the message names the place."""


def _price(where: str, value: Any) -> Decimal:
    # Prices are written as strings so that YAML never reads them as binary floats.
    if not isinstance(value, str):
        raise PriceListError(f'{where}: write the price as a quoted decimal string, e.g. "0.25"')
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise PriceListError(f"{where}: {value!r} is not a decimal number") from None
    if not price.is_finite() or price < 0:
        raise PriceListError(f"{where}: a price is a finite number >= 0, got {value!r}")
    return price


def parse_price_list(data: Any, source: str = "price list") -> PriceList:
    kinds = [k.value for k in OrganisationKind]
    if not isinstance(data, dict) or not isinstance(data.get("versions"), list) or not data["versions"]:
        raise PriceListError(f"{source}: expected `currencies` and a non-empty list `versions`")
    currencies = data.get("currencies") or {}
    missing = [k for k in kinds if not isinstance(currencies.get(k), str)]
    if missing:
        raise PriceListError(f"{source}: currencies: give a currency code for {', '.join(missing)}")
    known = {r.value for r in Resource}
    versions: list[PriceVersion] = []
    for index, entry in enumerate(data["versions"]):
        where = f"{source}: versions[{index}]"
        effective = _day(entry.get("effective")) if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not entry.get("version") or effective is None:
            raise PriceListError(f"{where}: needs `version` (a name) and `effective` (a date, YYYY-MM-DD)")
        resources: dict[str, ResourcePrice] = {}
        for name, spec in (entry.get("resources") or {}).items():
            at = f"{where}.resources.{name}"
            if name not in known:
                raise PriceListError(f"{at}: unknown resource; known: {', '.join(sorted(known))}")
            if not isinstance(spec, dict) or spec.get("basis") not in BASES:
                raise PriceListError(f"{at}: basis must be one of {', '.join(BASES)}")
            per = spec.get("per", 1)
            if isinstance(per, bool) or not isinstance(per, int) or per < 1:
                raise PriceListError(f"{at}: per must be a whole number >= 1")
            resources[name] = ResourcePrice(
                name,
                spec["basis"],
                str(spec.get("unit") or f"{name}-hour"),
                per,
                {kind: _price(f"{at}.{kind}", spec.get(kind)) for kind in kinds},
            )
        versions.append(PriceVersion(str(entry["version"]), effective, resources))
    versions.sort(key=lambda v: v.effective)
    for earlier, later in zip(versions, versions[1:], strict=False):
        if earlier.effective == later.effective:
            raise PriceListError(
                f"{source}: versions {earlier.version} and {later.version} take effect on the same day"
            )
    if len({v.version for v in versions}) != len(versions):
        raise PriceListError(f"{source}: version names must be unique")
    return PriceList({k: currencies[k] for k in kinds}, tuple(versions))


def _day(value: object) -> date | None:
    """A YAML date, or the same date quoted (Helm's toYaml quotes every date it renders)."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def load_price_list(path: Path = DEFAULT_PRICE_LIST) -> PriceList:
    return parse_price_list(yaml.safe_load(Path(path).read_text()), str(path))
