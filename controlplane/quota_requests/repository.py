"""The quota requests' rows and their events, and the regions' rows admission counts in. Lists and
fetches for a caller filter with the one visibility rule (`access.visible_to`); the services' and
workers' look-ups by id are unfiltered. Nothing here commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from controlplane.access import visible_to
from controlplane.domain.principal import Principal
from controlplane.domain.states import RequestState
from controlplane.pagination import Page, paginate
from controlplane.persistence.models import Project, QuotaRequest, RegionRow, RegionTotals, RequestEvent
from controlplane.projects.repository import lease_free


def get_visible(
    session: Session, principal: Principal, request_id: str, *, for_update: bool = False
) -> QuotaRequest | None:
    statement = select(QuotaRequest).where(
        QuotaRequest.id == request_id, visible_to(principal, QuotaRequest.organisation_id)
    )
    return session.scalar(statement.with_for_update() if for_update else statement)


def page_visible(
    session: Session,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    state: RequestState | None = None,
    organisation_id: str | None = None,
    region: str | None = None,
) -> Page[QuotaRequest]:
    statement = select(QuotaRequest).where(visible_to(principal, QuotaRequest.organisation_id))
    if state is not None:
        statement = statement.where(QuotaRequest.state == state.value)
    if organisation_id is not None:
        statement = statement.where(QuotaRequest.organisation_id == organisation_id)
    if region is not None:
        statement = statement.where(QuotaRequest.region_id == region)
    return paginate(session, statement, QuotaRequest, cursor, limit)


def events(session: Session, request_id: str, after: int = 0) -> list[RequestEvent]:
    """The request's events after the id `after`, in order (the caller checked it may see the request)."""
    return list(
        session.scalars(
            select(RequestEvent)
            .where(RequestEvent.request_id == request_id, RequestEvent.id > after)
            .order_by(RequestEvent.id)
        )
    )


# -- by id and by rule, for the services' and workers' own steps -----------------


def get(session: Session, request_id: str, *, for_update: bool = False) -> QuotaRequest | None:
    if for_update:
        return session.scalar(select(QuotaRequest).where(QuotaRequest.id == request_id).with_for_update())
    return session.get(QuotaRequest, request_id)


def get_one(session: Session, request_id: str | None, *, for_update: bool = False) -> QuotaRequest:
    """A request a row already refers to (a project's current request, a claim's)."""
    return session.get_one(QuotaRequest, request_id, with_for_update=for_update)


def add(session: Session, request: QuotaRequest) -> None:
    session.add(request)


def add_event(session: Session, event: RequestEvent) -> None:
    session.add(event)


def waiting_in(session: Session, organisation_id: str, region_id: str, environment: str) -> str | None:
    """The organisation's request for a region and environment that waits for a decision, if any."""
    return session.scalar(
        select(QuotaRequest.id).where(
            QuotaRequest.organisation_id == organisation_id,
            QuotaRequest.region_id == region_id,
            QuotaRequest.environment == environment,
            QuotaRequest.state == RequestState.SUBMITTED.value,
        )
    )


def count_waiting(session: Session, organisation_id: str) -> int:
    waiting = session.scalar(
        select(func.count())
        .select_from(QuotaRequest)
        .where(QuotaRequest.organisation_id == organisation_id, QuotaRequest.state == RequestState.SUBMITTED.value)
    )
    return waiting or 0


def active_besides(session: Session, project_id: str, request_id: str) -> list[QuotaRequest]:
    """The project's active requests other than `request_id`, locked (a newer one supersedes them)."""
    return list(
        session.scalars(
            select(QuotaRequest)
            .where(
                QuotaRequest.project_id == project_id,
                QuotaRequest.state == RequestState.ACTIVE.value,
                QuotaRequest.id != request_id,
            )
            .with_for_update()
        )
    )


def stale_provisions(session: Session, now: datetime, before: datetime) -> list[str]:
    """Requests approved or provisioning, untouched since `before`, whose project no worker holds."""
    return list(
        session.scalars(
            select(QuotaRequest.id)
            .join(Project, Project.id == QuotaRequest.project_id)
            .where(
                QuotaRequest.state.in_([RequestState.APPROVED.value, RequestState.PROVISIONING.value]),
                QuotaRequest.updated_at < before,
                lease_free(now),
            )
        )
    )


def ensure_regions(session: Session, region_ids: list[str]) -> None:
    """Create the rows of every catalogue region, its totals at zero (safe when several processes
    start at once: an existing row is left as it is)."""
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql_insert if dialect == "postgresql" else sqlite_insert
    for region_id in region_ids:
        session.execute(insert(RegionRow).values(id=region_id, admissions=0).on_conflict_do_nothing())
        session.execute(
            insert(RegionTotals)
            .values(region_id=region_id, granted={}, granted_business={}, granted_programmes={})
            .on_conflict_do_nothing()
        )
