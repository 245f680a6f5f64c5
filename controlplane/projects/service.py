"""Projects: what exists in a region for an organisation and environment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from controlplane.access import require_organisation, visible_organisation_ids
from controlplane.contract import TenantSpec
from controlplane.dependencies import ServiceDependencies
from controlplane.domain.principal import Principal
from controlplane.domain.resources import Resource
from controlplane.domain.states import ProjectState, RequestState
from controlplane.errors import Conflict, Detail, NotFound, PermissionDenied
from controlplane.pagination import Page, paginate
from controlplane.persistence.database import after_commit
from controlplane.persistence.models import Organisation, Project, QuotaRequest
from controlplane.quota_requests.lifecycle import transition


def get(session: Session, principal: Principal, project_id: str, *, for_update: bool = False) -> Project:
    statement = select(Project).where(Project.id == project_id)
    project = session.scalar(statement.with_for_update() if for_update else statement)
    if project is None or not (
        principal.is_staff or project.organisation_id in visible_organisation_ids(session, principal)
    ):
        raise NotFound(Detail("project {project_id} not found", project_id=project_id))
    return project


def visible(
    session: Session,
    principal: Principal,
    statement: Select[Any] | None = None,
    *,
    organisation_id: str | None = None,
    region: str | None = None,
) -> Select[Any]:
    """`statement` (default: all projects) narrowed to what the caller may see and the filters asked."""
    statement = select(Project) if statement is None else statement
    if not principal.is_staff:
        statement = statement.where(Project.organisation_id.in_(visible_organisation_ids(session, principal)))
    if organisation_id:
        statement = statement.where(Project.organisation_id == organisation_id)
    if region:
        statement = statement.where(Project.region_id == region)
    return statement


def list_visible(
    session: Session,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    organisation_id: str | None = None,
    region: str | None = None,
    state: ProjectState | None = None,
) -> Page[Project]:
    statement = visible(session, principal, organisation_id=organisation_id, region=region)
    if state:
        statement = statement.where(Project.state == state.value)
    return paginate(session, statement, Project, cursor, limit)


def last_usage(
    session: Session, principal: Principal, *, organisation_id: str | None = None, region: str | None = None
) -> list[Project]:
    """Live projects with their grant and the usage the last metering saw."""
    statement = visible(session, principal, organisation_id=organisation_id, region=region)
    statement = statement.where(Project.state != ProjectState.DECOMMISSIONED.value)
    return list(session.scalars(statement.order_by(Project.created_at, Project.id)))


def decommission(
    session: Session,
    deps: ServiceDependencies,
    principal: Principal,
    project_id: str,
    reason: str | None,
    *,
    force: bool = False,
) -> Project:
    project = get(session, principal, project_id, for_update=True)
    if not principal.is_operator:
        require_organisation(session, principal, project.organisation_id, admin=True)
    if force and not principal.is_operator:
        raise PermissionDenied(Detail("only an operator may force a decommission"))
    if project.state != ProjectState.ACTIVE.value:
        raise Conflict(
            Detail(
                "project {project_id} is {project_state}; only an active project can be decommissioned",
                project_id=project.id,
                project_state=project.state,
            )
        )
    stored = (project.last_usage or {}).get(Resource.OBJECT_GIB.value, 0)
    if stored and not force:
        # Sahab empties nothing silently: the account and its objects would outlive the project.
        raise Conflict(
            Detail(
                "project {project_id}: its object storage account still holds data ({stored} GiB, "
                "measured {measured_at}); delete the objects first, or an operator forces the "
                "decommission (the objects then stay in Swift, unreachable by the project)",
                project_id=project.id,
                stored=stored,
                measured_at=project.last_usage_at,
            ),
            in_use={Resource.OBJECT_GIB.value: stored},
        )
    in_use = {k: v for k, v in (project.last_usage or {}).items() if k in _MUST_BE_EMPTY and v}
    if in_use:
        # Removing the network under running servers fails half-way; say so before starting.
        listed = ", ".join(f"{v} {k}" for k, v in sorted(in_use.items()))
        raise Conflict(
            Detail(
                "project {project_id} still has {listed} (measured {project_last_usage_at:%Y-%m-%d "
                "%H:%M} UTC); delete them first",
                project_id=project.id,
                listed=listed,
                project_last_usage_at=project.last_usage_at,
            ),
            in_use=in_use,
        )
    request = session.get_one(QuotaRequest, project.current_request_id)
    organisation = session.get_one(Organisation, project.organisation_id)
    transition(
        session,
        deps.clock,
        request,
        RequestState.DECOMMISSIONING,
        actor=principal.subject,
        organisation_kind=organisation.kind,
        reason=reason or "decommission requested",
    )
    project.state = ProjectState.DECOMMISSIONING.value
    project.updated_at = deps.clock.now()
    session.flush()
    after_commit(session, lambda: deps.queue.decommission(project_id))
    return project


_MUST_BE_EMPTY = ("instances", "volumes", "snapshots")


def require_credentials_access(session: Session, principal: Principal, project_id: str) -> Project:
    """Credentials go to the organisation's admins only: not to members, not to staff."""
    project = get(session, principal, project_id)
    require_organisation(session, principal, project.organisation_id, admin=True, operator_override=False)
    if project.state != ProjectState.ACTIVE.value:
        raise Conflict(
            Detail(
                "project {project_id} is {project_state}; credentials exist once it is active",
                project_id=project.id,
                project_state=project.state,
            )
        )
    return project


def tenant_spec(
    session: Session, deps: ServiceDependencies, project: Project, request: QuotaRequest | None = None
) -> TenantSpec:
    region = deps.region(project.region_id)
    organisation = session.get_one(Organisation, project.organisation_id)
    request_id = request.id if request else (project.current_request_id or "")
    quota = dict(request.amounts) if request is not None else dict(project.granted)
    return TenantSpec(
        project_id=project.id,
        organisation_id=organisation.id,
        organisation_name=organisation.legal_name,
        request_id=request_id,
        region_id=region.id,
        cloud=region.cloud,
        openstack_region=region.openstack_region,
        domain_id=region.domain_id,
        environment=project.environment,
        quota=quota,
        external_network=region.external_network,
        create_network=bool(region.external_network),
        object_storage=region.has_object_storage,
    )
