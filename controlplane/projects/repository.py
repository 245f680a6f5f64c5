"""The projects' rows and their sealed credentials. Lists and fetches for a caller filter with the one
visibility rule (`access.visible_to`); the workers' look-ups by id are unfiltered. Nothing here commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, or_, select, update
from sqlalchemy.orm import Session

from controlplane.access import visible_to
from controlplane.domain.principal import Principal
from controlplane.domain.states import ProjectState
from controlplane.pagination import Page, paginate
from controlplane.persistence.models import Project, ProjectCredentials


def visible(
    principal: Principal,
    statement: Select[Any] | None = None,
    *,
    organisation_id: str | None = None,
    region: str | None = None,
) -> Select[Any]:
    """`statement` (default: all projects) narrowed to what the caller may see and the filters asked."""
    statement = (select(Project) if statement is None else statement).where(
        visible_to(principal, Project.organisation_id)
    )
    if organisation_id:
        statement = statement.where(Project.organisation_id == organisation_id)
    if region:
        statement = statement.where(Project.region_id == region)
    return statement


def get_visible(session: Session, principal: Principal, project_id: str, *, for_update: bool = False) -> Project | None:
    statement = select(Project).where(Project.id == project_id, visible_to(principal, Project.organisation_id))
    return session.scalar(statement.with_for_update() if for_update else statement)


def page_visible(
    session: Session,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    organisation_id: str | None = None,
    region: str | None = None,
    state: ProjectState | None = None,
) -> Page[Project]:
    statement = visible(principal, organisation_id=organisation_id, region=region)
    if state:
        statement = statement.where(Project.state == state.value)
    return paginate(session, statement, Project, cursor, limit)


def live_visible(
    session: Session, principal: Principal, *, organisation_id: str | None = None, region: str | None = None
) -> list[Project]:
    """The caller's projects that are not decommissioned, oldest first."""
    statement = visible(principal, organisation_id=organisation_id, region=region)
    statement = statement.where(Project.state != ProjectState.DECOMMISSIONED.value)
    return list(session.scalars(statement.order_by(Project.created_at, Project.id)))


# -- by id, for the services' and workers' own steps -----------------------------


def get(session: Session, project_id: str) -> Project | None:
    return session.get(Project, project_id)


def get_one(session: Session, project_id: str | None) -> Project:
    """A project a row already refers to (a request's or a claim's)."""
    return session.get_one(Project, project_id)


def locked(session: Session, project_id: str | None) -> Project | None:
    """The project under a row lock (FOR UPDATE), if it exists."""
    return session.scalar(select(Project).where(Project.id == project_id).with_for_update())


def locked_fresh(session: Session, project_id: str | None) -> Project | None:
    """The project under a row lock, its attributes reloaded over what this session already holds."""
    if project_id is None:
        return None
    return session.get(Project, project_id, with_for_update=True, populate_existing=True)


def locked_one(session: Session, project_id: str | None) -> Project:
    """The project under a row lock, which exists (a claimed request's)."""
    return session.scalars(select(Project).where(Project.id == project_id).with_for_update()).one()


def _live_in(organisation_id: str, region_id: str, environment: str) -> tuple[ColumnElement[bool], ...]:
    return (
        Project.organisation_id == organisation_id,
        Project.region_id == region_id,
        Project.environment == environment,
        Project.state != ProjectState.DECOMMISSIONED.value,
    )


def live_in(
    session: Session, organisation_id: str, region_id: str, environment: str, *, for_update: bool = False
) -> Project | None:
    """The organisation's project in a region and environment that is not decommissioned (at most one)."""
    statement = select(Project).where(*_live_in(organisation_id, region_id, environment))
    return session.scalar(statement.with_for_update() if for_update else statement)


def live_in_visible(
    session: Session, principal: Principal, organisation_id: str, region_id: str, environment: str
) -> Project | None:
    """`live_in`, if the caller may see it."""
    statement = select(Project).where(
        *_live_in(organisation_id, region_id, environment), visible_to(principal, Project.organisation_id)
    )
    return session.scalar(statement)


def add(session: Session, project: Project) -> None:
    session.add(project)


def renew_lease(session: Session, project_id: str, worker_id: str, until: datetime) -> None:
    """Push the lease of `worker_id` on the project to `until`; nothing if another worker took it."""
    session.execute(
        update(Project).where(Project.id == project_id, Project.lease_owner == worker_id).values(lease_until=until)
    )


def lease_free(now: datetime) -> ColumnElement[bool]:
    """No worker holds the project's lease at `now`."""
    return or_(Project.lease_until.is_(None), Project.lease_until < now)


def stale_decommissions(session: Session, now: datetime, before: datetime) -> list[str]:
    """Projects decommissioning, untouched since `before`, that no worker holds."""
    return list(
        session.scalars(
            select(Project.id).where(
                Project.state == ProjectState.DECOMMISSIONING.value,
                Project.updated_at < before,
                lease_free(now),
            )
        )
    )


# -- sealed credentials ----------------------------------------------------------


def credentials(session: Session, project_id: str) -> ProjectCredentials | None:
    return session.get(ProjectCredentials, project_id)


def add_credentials(session: Session, row: ProjectCredentials) -> None:
    session.add(row)


def forget_credentials(session: Session, project_id: str) -> None:
    session.execute(delete(ProjectCredentials).where(ProjectCredentials.project_id == project_id))


def credentials_after(session: Session, after: str, batch: int) -> list[ProjectCredentials]:
    """The next `batch` stored credentials by project id after `after`, locked (to reseal them)."""
    return list(
        session.scalars(
            select(ProjectCredentials)
            .where(ProjectCredentials.project_id > after)
            .order_by(ProjectCredentials.project_id)
            .limit(batch)
            .with_for_update()
        )
    )
