from __future__ import annotations

from typing import Any

from fastapi import Response

from api.deps import CallerDep, DependenciesDep, RuntimeDep, SessionDep
from api.routes.common import Cursor, Limit, PageOut, authenticated_router
from controlplane.domain.states import ProjectState
from controlplane.errors import CredentialsPending, Detail
from controlplane.metering.service import request_repair
from controlplane.projects import credentials, service
from controlplane.projects.schemas import ProjectOut
from controlplane.quota_requests.schemas import Decision

router = authenticated_router(prefix="/v1/projects", tags=["projects"])


@router.get("", response_model=PageOut[ProjectOut])
def list_projects(
    session: SessionDep,
    caller: CallerDep,
    limit: Limit,
    cursor: Cursor = None,
    organisation_id: str | None = None,
    region: str | None = None,
    state: ProjectState | None = None,
) -> PageOut[ProjectOut]:
    page = service.list_visible(
        session, caller, cursor=cursor, limit=limit, organisation_id=organisation_id, region=region, state=state
    )
    return PageOut(items=[ProjectOut.model_validate(p) for p in page.items], next_cursor=page.next_cursor)


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(project_id: str, session: SessionDep, caller: CallerDep) -> ProjectOut:
    return ProjectOut.model_validate(service.get(session, caller, project_id))


@router.post("/{project_id}/decommission", response_model=ProjectOut)
def decommission_project(
    project_id: str,
    session: SessionDep,
    deps: DependenciesDep,
    caller: CallerDep,
    data: Decision | None = None,
    force: bool = False,
) -> ProjectOut:
    """Organisation admins and operators: remove the project from the cloud and release its quota.
    Refused while its object storage holds data, unless an operator forces it (`?force=true`)."""
    return ProjectOut.model_validate(
        service.decommission(session, deps, caller, project_id, data.reason if data else None, force=force)
    )


@router.post("/{project_id}/repair", response_model=ProjectOut, status_code=202)
def repair_project(project_id: str, session: SessionDep, deps: DependenciesDep, caller: CallerDep) -> ProjectOut:
    """Operators: re-apply the project's granted quota to the cloud (repairs quota drift)."""
    return ProjectOut.model_validate(request_repair(session, deps, caller, project_id))


@router.get("/{project_id}/credentials")
def project_credentials(
    project_id: str,
    session: SessionDep,
    deps: DependenciesDep,
    runtime: RuntimeDep,
    caller: CallerDep,
    response: Response,
) -> dict[str, Any]:
    """A clouds.yaml document for the project user. Organisation admins only; contains a secret.
    Read from the database, where the worker sealed it when provisioning ended."""
    project = service.require_credentials_access(session, caller, project_id)
    entry = credentials.read(session, runtime.vault, project.id)
    if entry is None:
        # Provisioned before credentials were stored: a worker reads them once. Sent at once, not
        # after commit: this request writes nothing, and the error below rolls back.
        deps.queue.capture_credentials(project.id)
        raise CredentialsPending(
            Detail(
                "the credentials of project {project_id} are being fetched from its stack by a worker; retry in a "
                "few seconds",
                project_id=project.id,
            ),
            retry_after_seconds=5,
        )
    response.headers["Cache-Control"] = "no-store"
    return {"clouds": {f"sahab-{project.region_id}-{project.environment}": entry}}
