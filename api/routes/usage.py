from __future__ import annotations

from sqlalchemy import select

from api.deps import CallerDep, SessionDep
from api.routes.common import authenticated_router
from controlplane.access import visible_organisation_ids
from controlplane.domain.states import ProjectState
from controlplane.persistence.models import Project
from controlplane.projects.schemas import UsageOut

router = authenticated_router(prefix="/v1/usage", tags=["usage"])


@router.get("", response_model=list[UsageOut])
def usage(session: SessionDep, caller: CallerDep, organisation_id: str | None = None, region: str | None = None) -> list[UsageOut]:
    """Granted quota and the last usage measured, per live project the caller may see."""
    statement = select(Project).where(Project.state != ProjectState.DECOMMISSIONED.value)
    if not caller.is_staff:
        statement = statement.where(Project.organisation_id.in_(visible_organisation_ids(session, caller)))
    if organisation_id:
        statement = statement.where(Project.organisation_id == organisation_id)
    if region:
        statement = statement.where(Project.region_id == region)
    return [
        UsageOut(project_id=p.id, organisation_id=p.organisation_id, region_id=p.region_id, environment=p.environment,
                 granted=p.granted, used=p.last_usage, measured_at=p.last_usage_at)
        for p in session.scalars(statement.order_by(Project.created_at, Project.id))
    ]
