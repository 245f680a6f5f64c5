"""Programmes: what the operator offers (a YAML file, `SAHAB_PROGRAMMES_PATH`), one set of fields each.

- eligibility: organisation kinds, sectors (empty = any), an employee-count band, an age band (a
  startup: founded less than `max_years` ago);
- grant: the envelope a request must stay within to be approved at once, a preset or amounts;
- length in months; price: free, or a discount percent on the price list;
- funding: capacity reserved per region, kept out of the general pool (controlplane.capacity).
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from controlplane.domain.regions import Catalogue, Region
from controlplane.domain.resources import Amounts, Resource, amounts, as_plain, preset
from controlplane.domain.states import OrganisationKind, Sector
from controlplane.errors import Detail, InvalidInput


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has fewer (31 Jan + 1 = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    """Inclusive bounds; a missing bound is open."""

    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self

    def holds(self, value: int) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self) -> Detail:
        if self.min is not None and self.max is not None:
            return Detail("{min} to {max}", min=self.min, max=self.max)
        return Detail("at least {min}", min=self.min) if self.min is not None else Detail("at most {max}", max=self.max)


class AgeBand(_Strict):
    """Founded less than `max_years` ago (a startup), and/or at least `min_years` ago."""

    min_years: int | None = Field(None, ge=0)
    max_years: int | None = Field(None, ge=1)


class Eligibility(_Strict):
    kinds: list[OrganisationKind] = Field(min_length=1)
    sectors: list[Sector] = Field(default_factory=list, description="empty: any sector")
    employees: Band | None = None
    age: AgeBand | None = None


class Amounted(_Strict):
    """A preset (times `count`) or explicit amounts: the one way the file names quantities."""

    preset: str | None = None
    count: int = Field(1, ge=1)
    amounts: dict[str, int] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Amounted:
        if (self.preset is None) == (self.amounts is None):
            raise ValueError("give either preset (with an optional count) or amounts")
        self.resolve()  # unknown presets and resources are refused at load
        return self

    def resolve(self, region: Region | None = None) -> Amounts:
        """The amounts; a preset in a region as that region offers it (no object storage where it has none),
        as a request's preset is there."""
        if self.preset is not None:
            offered = region.preset(self.preset) if region is not None else preset(self.preset)
            return {r: v * self.count for r, v in offered.items()}
        return amounts(self.amounts)


class Price(_Strict):
    free: bool = False
    discount_percent: Decimal | None = Field(None, gt=0, le=100)

    @model_validator(mode="after")
    def _one_of(self) -> Price:
        if self.free == (self.discount_percent is not None):
            raise ValueError("price is either free: true or a discount_percent")
        return self

    @property
    def percent_off(self) -> Decimal:
        return Decimal(100) if self.free or self.discount_percent is None else self.discount_percent


class Programme(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str
    description: str = ""
    eligibility: Eligibility
    grant: Amounted
    length_months: int = Field(ge=1, le=120)
    price: Price
    funding: dict[str, Amounted] = Field(min_length=1, description="region id: capacity reserved for the programme")
    auto_enrol: bool = Field(
        True, description="an eligible, verified applicant is enrolled at once; else an approver decides"
    )
    grace_days: int = Field(14, ge=0, description="after expiry, days to choose before Sahab shrinks the grant")

    def envelope(self, region: Region | None = None) -> Amounts:
        """The grant; in a region, as that region offers it."""
        return self.grant.resolve(region)

    def reserved(self, region: Region) -> Amounts:
        funded = self.funding.get(region.id)
        return funded.resolve(region) if funded else amounts()

    def ends_on(self, start: date) -> date:
        return add_months(start, self.length_months)


class ProgrammeCatalogue(BaseModel):
    programmes: list[Programme] = Field(default_factory=list)

    def get(self, programme_id: str) -> Programme | None:
        return next((p for p in self.programmes if p.id == programme_id), None)

    def reserves(self, region: Region) -> dict[str, dict[str, int]]:
        """{programme: amounts} reserved in one region: what Region.programme_reserves holds."""
        return {p.id: as_plain(p.reserved(region)) for p in self.programmes if region.id in p.funding}


def check_against(programmes: ProgrammeCatalogue, regions: Catalogue, where: str) -> None:
    """Every funded region exists, the reserves fit its capacity together, and each reserve holds
    the programme's grant at least once (else no enrolled request could ever be funded)."""
    for programme in programmes.programmes:
        for region_id in programme.funding:
            region = regions.get(region_id)
            if region is None:
                raise InvalidInput(
                    Detail(
                        "{where}: programme {programme_id} funds unknown region {region_id}",
                        where=where,
                        programme_id=programme.id,
                        region_id=region_id,
                    )
                )
            grant, reserve = programme.envelope(region), programme.reserved(region)
            short = [r.value for r in Resource if grant[r] > reserve[r]]
            if short:
                raise InvalidInput(
                    Detail(
                        "{where}: programme {programme_id} reserves less than one grant in {region_id} for {resources}",
                        where=where,
                        programme_id=programme.id,
                        region_id=region_id,
                        resources=", ".join(short),
                    )
                )
    for region in regions.regions:
        capacity = region.effective_capacity()
        for resource in Resource:
            total = sum(p.reserved(region)[resource] for p in programmes.programmes)
            if total > capacity[resource]:
                raise InvalidInput(
                    Detail(
                        "{where}: programmes reserve {total} {resource} in {region_id}, more than "
                        "its capacity {capacity}",
                        where=where,
                        total=total,
                        resource=resource.value,
                        region_id=region.id,
                        capacity=capacity[resource],
                    )
                )


def load_programmes(path: Path | None, regions: Catalogue) -> ProgrammeCatalogue:
    if path is None:
        return ProgrammeCatalogue()
    try:
        data: Any = yaml.safe_load(path.read_text())
    except OSError as error:
        raise InvalidInput(
            Detail("cannot read programme catalogue {path}: {error_strerror}", path=path, error_strerror=error.strerror)
        ) from error
    except yaml.YAMLError as error:
        raise InvalidInput(
            Detail("programme catalogue {path} is not valid YAML: {error}", path=path, error=error)
        ) from error
    try:
        catalogue = ProgrammeCatalogue.model_validate(data or {})
    except (ValidationError, InvalidInput) as error:
        raise InvalidInput(Detail("programme catalogue {path} is invalid: {error}", path=path, error=error)) from error
    ids = [p.id for p in catalogue.programmes]
    if len(ids) != len(set(ids)):
        raise InvalidInput(Detail("programme catalogue {path} repeats a programme id", path=path))
    check_against(catalogue, regions, f"programme catalogue {path}")
    return catalogue


def with_reserves(regions: Catalogue, programmes: ProgrammeCatalogue) -> Catalogue:
    """The region catalogue with each region's programme reserves, which capacity arithmetic reads."""
    return Catalogue(
        regions=[
            region.model_copy(update={"programme_reserves": programmes.reserves(region)}) for region in regions.regions
        ]
    )


DEMO_PROGRAMMES = Path(__file__).resolve().parent.parent / "catalogue" / "demo-programmes.yaml"
