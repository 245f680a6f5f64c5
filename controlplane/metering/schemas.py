from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ResourceUsage(BaseModel):
    granted: int
    peak: int
    average: float
    unit_hours: float = Field(description="integral of usage over the period, in the resource's unit x hours")


class UsageReportRow(BaseModel):
    by: Literal["project", "region", "organisation"]
    from_: datetime = Field(alias="from")
    to: datetime
    project_id: str | None
    organisation_id: str | None
    region_id: str | None
    environment: str | None
    projects: int
    samples: int
    vcpu_hours: float
    ram_gib_hours: float
    volume_gib_hours: float
    object_gib_hours: float = Field(0.0, description="Swift account usage (GiB, rounded up per sample) x hours")
    resources: dict[str, ResourceUsage]

    model_config = {"populate_by_name": True}


class DriftOut(BaseModel):
    project_id: str
    organisation_id: str
    region_id: str
    environment: str
    openstack_project_id: str | None
    measured_at: datetime | None
    kind: Literal["quota_changed", "usage_above_quota", "project_missing"]
    resource: str | None
    granted: int | None
    quota: int | None
    used: int | None
