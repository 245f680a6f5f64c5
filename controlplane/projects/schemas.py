from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from controlplane.domain.states import ProjectState


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    organisation_id: str
    region_id: str
    environment: str
    state: ProjectState
    granted: dict[str, int]
    current_request_id: str | None
    openstack_project_id: str | None
    outputs: dict[str, Any]
    last_error: str | None
    last_usage: dict[str, int] | None
    last_usage_at: datetime | None
    created_at: datetime
    updated_at: datetime


class UsageOut(BaseModel):
    project_id: str
    organisation_id: str
    region_id: str
    environment: str
    granted: dict[str, int]
    used: dict[str, int] | None
    measured_at: datetime | None
