"""API-facing operations of metering: drift listing, repair requests (the alert webhook: controlplane.webhooks)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from controlplane.access import require_organisation, require_role
from controlplane.dependencies import ServiceDependencies
from controlplane.domain.principal import Principal
from controlplane.domain.states import PlatformRole, ProjectState
from controlplane.errors import Conflict, Detail
from controlplane.persistence.database import after_commit
from controlplane.persistence.models import Project, ProjectMetering
from controlplane.projects import service as projects
from controlplane.quota_requests.lifecycle import record_progress


def list_drift(
    session: Session, principal: Principal, *, organisation_id: str | None = None, region: str | None = None
) -> list[dict[str, Any]]:
    """Staff see every organisation's drift; members only their organisations' (others: 404)."""
    if organisation_id and not principal.is_staff:
        require_organisation(session, principal, organisation_id)
    statement: Select[Any] = (
        select(Project, ProjectMetering)
        .join(  # type: ignore[assignment]
            ProjectMetering, ProjectMetering.project_id == Project.id
        )
        .where(Project.state == ProjectState.ACTIVE.value)
    )
    statement = projects.visible(session, principal, statement, organisation_id=organisation_id, region=region)
    found = []
    rows: Iterable[tuple[Project, ProjectMetering]] = session.execute(statement.order_by(Project.region_id, Project.id))
    for project, metering in rows:
        for item in metering.drift or []:
            found.append(
                {
                    "project_id": project.id,
                    "organisation_id": project.organisation_id,
                    "region_id": project.region_id,
                    "environment": project.environment,
                    "openstack_project_id": project.openstack_project_id,
                    "measured_at": metering.measured_at,
                    **item,
                }
            )
    return found


def request_repair(session: Session, deps: ServiceDependencies, principal: Principal, project_id: str) -> Project:
    """Operators: queue a re-application of the project's granted quota (the provisioning path)."""
    require_role(principal, PlatformRole.OPERATOR)
    project = projects.get(session, principal, project_id, for_update=True)
    if project.state != ProjectState.ACTIVE.value or not project.current_request_id:
        raise Conflict(
            Detail(
                "project {project_id} is {project_state}; only an active project can be repaired",
                project_id=project.id,
                project_state=project.state,
            )
        )
    record_progress(
        session,
        deps.clock,
        project.current_request_id,
        f"repair requested by {principal.subject}",
        {"operation": "repair"},
        actor=principal.subject,
    )
    session.flush()
    after_commit(session, lambda: deps.queue.repair(project_id))
    return project
