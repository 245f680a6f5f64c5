"""Billing's queries: statements and their numbering, budgets, and the projects a bill or an estimate
counts. Every read for a caller filters with `access.visible_to`; the caller owns the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from controlplane.access import visible_to
from controlplane.domain.principal import Principal
from controlplane.domain.states import ProjectState, RequestState
from controlplane.persistence.models import (
    Budget,
    Organisation,
    Project,
    QuotaRequest,
    RequestEvent,
    Statement,
    StatementSequence,
)

STATEMENT, DRAFT, CORRECTED = "statement", "draft", "corrected"


# -- for a caller ---------------------------------------------------------------------------------
def visible_statement(session: Session, principal: Principal, statement_id: str) -> Statement | None:
    return session.scalar(
        select(Statement).where(Statement.id == statement_id, visible_to(principal, Statement.organisation_id))
    )


def visible_statements(
    principal: Principal,
    *,
    organisation_id: str | None = None,
    of_project: Project | None = None,
    period: str | None = None,
    state: str | None = None,
) -> Select[Any]:
    """The statements the caller may see, narrowed to the filters asked (for pagination); a project's
    statements are its organisation's."""
    statement = select(Statement).where(visible_to(principal, Statement.organisation_id))
    if organisation_id is not None:
        statement = statement.where(Statement.organisation_id == organisation_id)
    if of_project is not None:
        statement = statement.where(Statement.organisation_id == of_project.organisation_id)
    if period is not None:
        statement = statement.where(Statement.period == period)
    if state is not None:
        statement = statement.where(Statement.state == state)
    return statement


def visible_project(session: Session, principal: Principal, project_id: str) -> Project | None:
    return session.scalar(
        select(Project).where(Project.id == project_id, visible_to(principal, Project.organisation_id))
    )


# -- statements -----------------------------------------------------------------------------------
def organisation(session: Session, organisation_id: str) -> Organisation:
    return session.get_one(Organisation, organisation_id)


def current_statement(
    session: Session, organisation_id: str, period: str, *, for_update: bool = False
) -> Statement | None:
    """The organisation's statement of the month that stands (a draft or issued, not a corrected one)."""
    statement = select(Statement).where(
        Statement.organisation_id == organisation_id,
        Statement.period == period,
        Statement.kind == STATEMENT,
        Statement.state != CORRECTED,
    )
    return session.scalar(statement.with_for_update() if for_update else statement)


def statement_for_update(session: Session, statement_id: str) -> Statement | None:
    return session.scalar(select(Statement).where(Statement.id == statement_id).with_for_update())


def add(session: Session, row: Statement | Budget) -> None:
    session.add(row)


def take_number(session: Session, year: int) -> int:
    """The next sequence number of `year`, under the year row's lock until the caller's transaction ends."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(StatementSequence).values(year=year, last=0).on_conflict_do_nothing(index_elements=["year"]))
    sequence = session.scalar(
        select(StatementSequence)
        .where(StatementSequence.year == year)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert sequence is not None
    sequence.last += 1
    session.flush()
    return sequence.last


def organisations_to_bill(session: Session, start: datetime, end: datetime, period: str) -> list[str]:
    """Organisations with a project that may have lived in [start, end) and no issued statement of `period`."""
    with_projects = (
        select(Project.organisation_id)
        .where(
            Project.created_at < end,
            or_(Project.state != ProjectState.DECOMMISSIONED.value, Project.updated_at >= start),
        )
        .distinct()
    )
    billed = select(Statement.organisation_id).where(
        Statement.period == period, Statement.kind == STATEMENT, Statement.state != DRAFT
    )
    return sorted(session.scalars(with_projects.where(Project.organisation_id.not_in(billed))))


def organisations_with_live_projects(session: Session) -> list[str]:
    return sorted(
        session.scalars(
            select(Project.organisation_id).where(Project.state != ProjectState.DECOMMISSIONED.value).distinct()
        )
    )


# -- what a statement counts ----------------------------------------------------------------------
def projects_created_before(session: Session, organisation_id: str, moment: datetime) -> list[Project]:
    return list(
        session.scalars(
            select(Project)
            .where(Project.organisation_id == organisation_id, Project.created_at < moment)
            .order_by(Project.id)
        )
    )


def decommissioned_at(session: Session, project_ids: list[str]) -> dict[str, datetime]:
    """When each decommissioned project was removed from the cloud (its request's last transition)."""
    if not project_ids:
        return {}
    rows = session.execute(
        select(QuotaRequest.project_id, func.max(RequestEvent.at))
        .join(RequestEvent, RequestEvent.request_id == QuotaRequest.id)
        .where(
            QuotaRequest.project_id.in_(project_ids),
            RequestEvent.to_state == RequestState.DECOMMISSIONED.value,
        )
        .group_by(QuotaRequest.project_id)
    )
    return {project_id: at for project_id, at in rows if project_id is not None}


def live_grants(session: Session, organisation_id: str) -> dict[str, dict[str, Any]]:
    """Each live project's grant, by project id."""
    return {
        p.id: dict(p.granted or {})
        for p in session.scalars(
            select(Project).where(
                Project.organisation_id == organisation_id, Project.state != ProjectState.DECOMMISSIONED.value
            )
        )
    }


def live_project_id(session: Session, organisation_id: str, region_id: str, environment: str) -> str | None:
    return session.scalar(
        select(Project.id).where(
            Project.organisation_id == organisation_id,
            Project.region_id == region_id,
            Project.environment == environment,
            Project.state != ProjectState.DECOMMISSIONED.value,
        )
    )


# -- budgets ----------------------------------------------------------------------------------------
def budget(session: Session, organisation_id: str, *, for_update: bool = False) -> Budget | None:
    return session.get(Budget, organisation_id, with_for_update=True if for_update else None)


def remove_budget(session: Session, row: Budget) -> None:
    session.delete(row)


def budgets_for_update(session: Session) -> list[Budget]:
    return list(session.scalars(select(Budget).with_for_update()))
