from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from controlplane.domain.resources import PRESETS, Resource
from controlplane.domain.states import RequestState

ENVIRONMENT = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class QuotaRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: str
    region: str
    environment: str = Field(description="a short name such as prod or staging")
    preset: str | None = Field(None, description="small, medium or large; amounts override single resources")
    amounts: dict[str, int] = Field(default_factory=dict, description="resource name -> amount")
    justification: str = Field(min_length=3, max_length=2000)

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str) -> str:
        if not ENVIRONMENT.match(value):
            raise ValueError("lower-case letters, digits and dashes, starting with a letter, at most 32")
        return value

    @field_validator("preset")
    @classmethod
    def _preset(cls, value: str | None) -> str | None:
        if value is not None and value not in PRESETS:
            raise ValueError(f"unknown preset; known: {', '.join(PRESETS)}")
        return value

    @field_validator("amounts")
    @classmethod
    def _amounts(cls, value: dict[str, int]) -> dict[str, int]:
        known = {r.value for r in Resource}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown resource(s) {unknown}; known: {sorted(known)}")
        negative = sorted(k for k, v in value.items() if v < 0)
        if negative:
            raise ValueError(f"amounts must be >= 0: {negative}")
        return value

    @model_validator(mode="after")
    def _something_requested(self) -> "QuotaRequestCreate":
        if self.preset is None and not self.amounts:
            raise ValueError("give a preset, amounts, or both")
        return self


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=2000)


class RejectDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=2000)


class QuotaRequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    organisation_id: str
    region_id: str
    environment: str
    project_id: str | None
    kind: str
    amounts: dict[str, int]
    justification: str
    state: RequestState
    reason: str | None
    preview: dict[str, Any] | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    from_state: RequestState | None
    to_state: RequestState | None
    reason: str | None
    detail: dict[str, Any] | None
