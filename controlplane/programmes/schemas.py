from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from controlplane.domain.regions import Catalogue
from controlplane.domain.resources import as_plain
from controlplane.programmes.catalogue import Eligibility, Programme
from controlplane.programmes.report import ProgrammeReport
from controlplane.programmes.service import Choice, EnrolmentState


class ProgrammeOut(BaseModel):
    id: str
    name: str
    description: str
    eligibility: Eligibility
    grant: dict[str, int] = Field(description="the envelope: a request within it is approved at once while enrolled")
    length_months: int
    free: bool
    discount_percent: Decimal = Field(description="off the price list while enrolled; 100 when free")
    funding: dict[str, dict[str, int]] = Field(description="region: capacity reserved for the programme")
    auto_enrol: bool
    grace_days: int

    @classmethod
    def of(cls, programme: Programme, regions: Catalogue) -> ProgrammeOut:
        """`regions`: the catalogue, where each region's reserve is as that region offers it."""
        return cls(
            id=programme.id,
            name=programme.name,
            description=programme.description,
            eligibility=programme.eligibility,
            grant=as_plain(programme.envelope()),
            length_months=programme.length_months,
            free=programme.price.free,
            discount_percent=programme.price.percent_off,
            funding={
                region.id: as_plain(region.reserved_for(programme.id))
                for region in regions.regions
                if programme.id in region.programme_reserves
            },
            auto_enrol=programme.auto_enrol,
            grace_days=programme.grace_days,
        )


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: str = Field(min_length=1, max_length=32)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=2000)


class ChoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    choice: Choice = Field(description="continue: keep the grant at the normal price; shrink: to the normal envelope")


class EnrolmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    programme_id: str
    organisation_id: str
    state: EnrolmentState
    reason: str = Field(description="why it is in this state: every decision says why")
    applied_by: str
    created_at: datetime = Field(description="when it applied")
    decided_by: str | None
    decided_at: datetime | None
    starts_at: datetime | None
    ends_at: datetime | None
    percent_off: Decimal | None
    choice: Choice | None
    chosen_by: str | None
    chosen_at: datetime | None
    updated_at: datetime


class EligibilityOut(BaseModel):
    programme: str
    organisation_id: str
    eligible: bool
    reasons: list[str]


class ExpiryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    enrolment_id: str
    organisation_id: str
    state: str
    ends_at: datetime
    choice: str | None


class ReportOut(BaseModel):
    programme: str
    enrolments: dict[str, int]
    regions: dict[str, dict[str, dict[str, int]]] = Field(
        description="region -> resource -> reserved, granted (from the reserve) and used (last collection)"
    )
    expiring: list[ExpiryOut] = Field(description="enrolled or in grace, ending within 30 days (or ended)")

    @classmethod
    def of(cls, report: ProgrammeReport) -> ReportOut:
        data: dict[str, Any] = {
            "programme": report.programme,
            "enrolments": report.enrolments,
            "regions": report.regions,
            "expiring": [ExpiryOut.model_validate(e) for e in report.expiring],
        }
        return cls(**data)
