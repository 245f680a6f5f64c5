from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from controlplane.domain import resources
from controlplane.domain.states import RequestState
from controlplane.errors import Detail, InvalidInput

ENVIRONMENT = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class QuotaRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: str
    region: str
    environment: str = Field(description="a short name such as prod or staging")
    preset: str | None = Field(None, description="small, medium or large; amounts override single resources")
    # Any, not int: the domain alone decides what an amount is (pydantic would turn true or 2.0 into
    # an int first); the schema below documents its rules for clients.
    amounts: dict[str, Any] = Field(
        default_factory=dict,
        description="resource name -> amount",
        json_schema_extra={
            "propertyNames": {"enum": [r.value for r in resources.Resource]},
            "additionalProperties": {"type": "integer", "minimum": 0, "maximum": resources.AMOUNT_MAX},
        },
    )
    justification: str = Field(min_length=3, max_length=2000)

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str) -> str:
        if not ENVIRONMENT.match(value):
            raise ValueError(Detail("lower-case letters, digits and dashes, starting with a letter, at most 32"))
        return value

    # The rules for presets and amounts live in the domain; here they only become 422s with a location.
    @field_validator("preset")
    @classmethod
    def _preset(cls, value: str | None) -> str | None:
        if value is not None:
            _as_value_error(resources.preset, value)
        return value

    @field_validator("amounts")
    @classmethod
    def _amounts(cls, value: dict[str, Any]) -> dict[str, int]:
        _as_value_error(resources.some_amounts, value)
        return value

    @model_validator(mode="after")
    def _something_requested(self) -> QuotaRequestCreate:
        if self.preset is None and not self.amounts:
            raise ValueError(Detail("give a preset, amounts, or both"))
        return self


def _as_value_error(check: Callable[[Any], object], value: Any) -> None:
    try:
        check(value)
    except InvalidInput as error:
        raise ValueError(error.detail) from None


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
    estimated_monthly_cost: dict[str, Any] | None = Field(
        None,
        description=(
            "the project's cost for a whole month at these amounts, at today's prices and discount, every priced "
            "resource counted as fully used (controlplane.billing); absent from lists"
        ),
    )


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    from_state: RequestState | None
    to_state: RequestState | None
    reason: str | None
    detail: dict[str, Any] | None
