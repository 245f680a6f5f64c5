"""Metering's queries: the rows the collection reads and writes, the samples reports integrate, and the
drift a caller may see. Every read for a caller filters with `access.visible_to`; the caller owns the
transaction."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.orm import Session

from controlplane.access import visible_to
from controlplane.domain.principal import Principal
from controlplane.domain.states import ProjectState
from controlplane.persistence.models import (
    MeteringRun,
    Organisation,
    Project,
    ProjectMetering,
    RegionMetering,
    UsageSample,
)

Points = dict[str, list[tuple[datetime, dict[str, int]]]]
Carried = dict[str, tuple[datetime, dict[str, int]]]
CHUNK = 500  # ids per IN (...): well below every database's bound on parameters


# -- for a caller ---------------------------------------------------------------------------------
def visible_projects(
    session: Session,
    principal: Principal,
    *,
    organisation_id: str | None = None,
    region: str | None = None,
    created_before: datetime | None = None,
) -> list[Project]:
    """The projects the caller may see, narrowed to the filters asked."""
    statement = select(Project).where(visible_to(principal, Project.organisation_id))
    if organisation_id:
        statement = statement.where(Project.organisation_id == organisation_id)
    if region:
        statement = statement.where(Project.region_id == region)
    if created_before is not None:
        statement = statement.where(Project.created_at < created_before)
    return list(session.scalars(statement))


def visible_drift(
    session: Session, principal: Principal, *, organisation_id: str | None = None, region: str | None = None
) -> list[tuple[Project, ProjectMetering]]:
    """The active projects the caller may see with their latest reading, by region and id."""
    statement = (
        select(Project, ProjectMetering)
        .join(ProjectMetering, ProjectMetering.project_id == Project.id)
        .where(Project.state == ProjectState.ACTIVE.value, visible_to(principal, Project.organisation_id))
    )
    if organisation_id:
        statement = statement.where(Project.organisation_id == organisation_id)
    if region:
        statement = statement.where(Project.region_id == region)
    return [
        (project, metering) for project, metering in session.execute(statement.order_by(Project.region_id, Project.id))
    ]


# -- samples ----------------------------------------------------------------------------------------
def load_points(
    session: Session, ids: list[str], start: datetime, end: datetime, field: Literal["used", "quota"] = "used"
) -> tuple[Points, Carried]:
    """Per project: its samples' `field` in [start, end), and the last one before start (carried in)."""
    column = UsageSample.used if field == "used" else UsageSample.quota
    samples: Points = defaultdict(list)
    carried: Carried = {}
    for chunk in (ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)):
        rows = session.execute(
            select(UsageSample.project_id, UsageSample.at, column)
            .where(
                UsageSample.project_id.in_(chunk),
                UsageSample.at >= start,
                UsageSample.at < end,
            )
            .order_by(UsageSample.project_id, UsageSample.at)
        )
        for project_id, at, values in rows:
            samples[project_id].append((at, values))
        latest_before = (
            select(UsageSample.project_id, func.max(UsageSample.at).label("at"))
            .where(UsageSample.project_id.in_(chunk), UsageSample.at < start)
            .group_by(UsageSample.project_id)
            .subquery()
        )
        rows = session.execute(
            select(UsageSample.project_id, UsageSample.at, column).join(
                latest_before,
                (UsageSample.project_id == latest_before.c.project_id) & (UsageSample.at == latest_before.c.at),
            )
        )
        for project_id, at, values in rows:
            carried[project_id] = (at, values)
    return samples, carried


# -- the collection -------------------------------------------------------------------------------
def collection_targets(session: Session) -> list[Row[Any]]:
    """Every active project on a cloud with its latest reading, in the columns of collect.Target."""
    return list(
        session.execute(
            select(
                Project.id,
                Project.organisation_id,
                Project.region_id,
                Project.environment,
                Project.openstack_project_id,
                Project.granted,
                Project.updated_at,
                ProjectMetering.project_id.is_not(None),
                ProjectMetering.quota,
                ProjectMetering.quota_checked_at,
                ProjectMetering.notified,
                ProjectMetering.openstack_project_name,
            )
            .outerjoin(ProjectMetering, ProjectMetering.project_id == Project.id)
            .where(Project.state == ProjectState.ACTIVE.value, Project.openstack_project_id.is_not(None))
        )
    )


def active_project_ids(session: Session) -> set[str]:
    return set(session.scalars(select(Project.id).where(Project.state == ProjectState.ACTIVE.value)))


def region_metering(session: Session, region_id: str) -> RegionMetering:
    """The region's stored capacity reading, created (and added) when it has none yet."""
    stored = session.get(RegionMetering, region_id) or RegionMetering(region_id=region_id)
    session.add(stored)
    return stored


def store_readings(
    session: Session,
    *,
    inserts: list[dict[str, Any]],
    updates: list[dict[str, Any]],
    project_errors: list[dict[str, Any]],
    project_usage: list[dict[str, Any]],
    samples: list[dict[str, Any]],
) -> None:
    """The collection's rows, each kind in one bulk statement."""
    if inserts:
        session.execute(insert(ProjectMetering), [{**row, "notified": {}} for row in inserts])
    if updates:
        session.execute(update(ProjectMetering), updates)
    for rows in (project_errors, project_usage):
        if rows:
            session.execute(update(Project), rows)
    if samples:
        session.execute(insert(UsageSample), samples)


def drop_samples_before(session: Session, moment: datetime) -> None:
    session.execute(delete(UsageSample).where(UsageSample.at < moment))


def alert_webhooks(session: Session) -> dict[str, Organisation]:
    """The organisations with an alert webhook, by id."""
    return {
        o.id: o
        for o in session.scalars(
            select(Organisation).where(
                Organisation.alert_webhook_url.is_not(None), Organisation.alert_webhook_secret.is_not(None)
            )
        )
    }


def store_notified(session: Session, levels: list[dict[str, Any]]) -> None:
    """The thresholds each project was last announced at ({project_id, notified} rows)."""
    if levels:
        session.execute(update(ProjectMetering), levels)


def record_run(session: Session, run: MeteringRun) -> None:
    session.add(run)


# -- the metrics' read model --------------------------------------------------------------------------
def region_readings(session: Session) -> dict[str, RegionMetering]:
    return {r.region_id: r for r in session.scalars(select(RegionMetering))}


def last_run(session: Session) -> MeteringRun | None:
    return session.scalar(select(MeteringRun).order_by(MeteringRun.id.desc()).limit(1))


def newest_reading_at(session: Session) -> datetime | None:
    return session.scalar(select(func.max(ProjectMetering.measured_at)))


def active_readings(session: Session) -> list[Row[Any]]:
    """Every active project's grant, error and latest reading (outer join: not read yet is None)."""
    return list(
        session.execute(
            select(
                Project.id,
                Project.region_id,
                Project.organisation_id,
                Project.environment,
                Project.openstack_project_id,
                Project.granted,
                Project.metering_error,
                ProjectMetering.quota,
                ProjectMetering.used,
                ProjectMetering.drift,
                ProjectMetering.openstack_project_name,
            )
            .outerjoin(ProjectMetering, ProjectMetering.project_id == Project.id)
            .where(Project.state == ProjectState.ACTIVE.value)
        )
    )
