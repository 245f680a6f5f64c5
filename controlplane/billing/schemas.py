from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class StatementLine(BaseModel):
    project_id: str
    region_id: str
    environment: str
    resource: str
    basis: Literal["granted", "measured"]
    unit: str
    price_version: str
    quantity: str = Field(description="priced units x hours, rounded to 6 decimals for display")
    unit_price: str
    discount_percent: str
    programme: str | None
    list_amount: str = Field(description="quantity x unit price, rounded once, half up, to 0.01")
    amount: str = Field(description="after the discount, rounded once, half up, to 0.01")


class ProjectSubtotal(BaseModel):
    project_id: str
    region_id: str
    environment: str
    list_amount: str
    amount: str


class StatementSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    organisation_id: str
    period: str = Field(description="YYYY-MM, UTC")
    kind: Literal["statement", "credit_note"]
    state: Literal["draft", "issued", "corrected"]
    number: str | None = Field(description="SAH-<year>-<n>: gap-free per year, given when issued")
    currency: str
    price_versions: list[str]
    list_total: str
    discount_total: str
    total: str
    corrects_id: str | None
    replaces_id: str | None
    corrected_by_id: str | None
    reason: str | None
    computed_at: datetime
    issued_at: datetime | None
    created_at: datetime


class StatementOut(StatementSummary):
    lines: list[StatementLine]
    projects: list[ProjectSubtotal] = Field(description="each project's subtotal (a project's statement)")


class Correction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=2000)


class CorrectionOut(BaseModel):
    credit_note: StatementOut
    replacement: StatementOut


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Any: the domain (budgets.parse_amount) decides, so that 0.1 + 0.2 never arrives as a binary float.
    amount: Any = Field(
        description='monthly budget in the organisation\'s currency, a decimal string, e.g. "5000.00"',
        json_schema_extra={"type": "string", "pattern": r"^\d+(\.\d{1,2})?$"},
    )
    block_increases: bool = Field(False, description="refuse increase requests whose monthly estimate exceeds it")


class BudgetOut(BaseModel):
    organisation_id: str
    amount: str | None
    currency: str
    block_increases: bool
    period: str
    spent: str = Field(description="month to date: the running month's draft statement total")
    estimate: str = Field(description="every live project's grant for a whole month at today's prices")
    alerted_threshold: int = Field(description="the highest alert (80, 100) sent this month, 0 for none")
    updated_by: str | None
    updated_at: datetime | None


class EstimateOut(BaseModel):
    request: dict[str, Any] = Field(description="the project's monthly cost at the requested amounts")
    organisation: dict[str, Any] = Field(description="every live project of the organisation, this one as requested")
    budget: str | None
    block_increases: bool
    within_budget: bool | None
