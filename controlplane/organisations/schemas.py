from __future__ import annotations

import re
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from controlplane.domain.states import MemberRole, OrganisationKind, OrganisationStatus, Sector
from controlplane.errors import Detail

# ICE: the 15-digit Identifiant Commun de l'Entreprise of a business.
_ICE = re.compile(r"^\d{15}$")
# Administration code of a public body: letters, digits and dashes.
_ADMIN_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")


EMPLOYEES_MAX = 10_000_000


class Profile(BaseModel):
    """What programmes judge an organisation on; an operator verifies it with the organisation."""

    model_config = ConfigDict(extra="forbid")

    sector: Sector | None = None
    employees: int | None = Field(None, ge=0, le=EMPLOYEES_MAX, description="number of employees")
    founded_on: date | None = Field(None, description="founding (registration) date; not in the future")


class ProfileUpdate(Profile):
    @model_validator(mode="after")
    def _something(self) -> ProfileUpdate:
        if not self.model_fields_set:
            raise ValueError(Detail("give at least one of sector, employees, founded_on"))
        return self


class OrganisationCreate(Profile):
    kind: OrganisationKind
    legal_name: str = Field(min_length=2, max_length=200)
    national_id: str = Field(description="ICE for a business (15 digits), administration code for an agency")
    contact_email: str = Field(max_length=254)

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError(Detail("not an e-mail address"))
        return value.lower()

    @model_validator(mode="after")
    def _national_id_matches_kind(self) -> OrganisationCreate:
        if self.kind == OrganisationKind.BUSINESS and not _ICE.match(self.national_id):
            raise ValueError(Detail("a business's national_id is its ICE: exactly 15 digits"))
        if self.kind == OrganisationKind.AGENCY and not _ADMIN_CODE.match(self.national_id):
            raise ValueError(Detail("an agency's national_id is its administration code: capitals, digits and dashes"))
        return self


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: OrganisationKind
    legal_name: str
    national_id: str
    contact_email: str
    status: OrganisationStatus
    created_at: datetime
    sector: Sector | None = None
    employees: int | None = None
    founded_on: date | None = None
    profile_verified_at: datetime | None = Field(
        None, description="when an operator last verified the profile; cleared when it changes"
    )


class MemberAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=255, description="the member's token subject (sub)")
    role: MemberRole = MemberRole.MEMBER


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subject: str
    role: MemberRole
    created_at: datetime
