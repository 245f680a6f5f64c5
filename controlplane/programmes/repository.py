"""Programmes' queries: enrolments, their expiry notices, and the projects a programme funds. Every read
for a caller filters with `access.visible_to`; the caller owns the transaction. States arrive as the
stored strings: the rules that name them stay with the services."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from controlplane.access import visible_to
from controlplane.domain.principal import Principal
from controlplane.domain.states import ProjectState
from controlplane.persistence.models import (
    Organisation,
    ProgrammeEnrolment,
    ProgrammeNotice,
    Project,
    ProjectMetering,
    QuotaRequest,
)


def add(session: Session, row: ProgrammeEnrolment | ProgrammeNotice) -> None:
    session.add(row)


def organisation(session: Session, organisation_id: str) -> Organisation:
    return session.get_one(Organisation, organisation_id)


# -- for a caller ---------------------------------------------------------------------------------
def visible_enrolment(
    session: Session, principal: Principal, enrolment_id: str, *, for_update: bool = False
) -> ProgrammeEnrolment | None:
    statement = select(ProgrammeEnrolment).where(
        ProgrammeEnrolment.id == enrolment_id, visible_to(principal, ProgrammeEnrolment.organisation_id)
    )
    return session.scalar(statement.with_for_update() if for_update else statement)


def visible_enrolments(
    principal: Principal,
    *,
    programme_id: str | None = None,
    organisation_id: str | None = None,
    state: str | None = None,
) -> Select[Any]:
    """The enrolments the caller may see, narrowed to the filters asked (for pagination)."""
    statement = select(ProgrammeEnrolment).where(visible_to(principal, ProgrammeEnrolment.organisation_id))
    if programme_id is not None:
        statement = statement.where(ProgrammeEnrolment.programme_id == programme_id)
    if organisation_id is not None:
        statement = statement.where(ProgrammeEnrolment.organisation_id == organisation_id)
    if state is not None:
        statement = statement.where(ProgrammeEnrolment.state == state)
    return statement


# -- applying ---------------------------------------------------------------------------------------
def lock_organisation(session: Session, organisation_id: str) -> None:
    """Serialise the organisation's applications until the transaction ends (a key-share lock on its row)."""
    session.execute(select(Organisation.id).where(Organisation.id == organisation_id).with_for_update(key_share=True))


def enrolment_in(session: Session, organisation_id: str, states: Collection[str]) -> ProgrammeEnrolment | None:
    return session.scalar(
        select(ProgrammeEnrolment).where(
            ProgrammeEnrolment.organisation_id == organisation_id, ProgrammeEnrolment.state.in_(list(states))
        )
    )


def held_enrolment_id(session: Session, organisation_id: str, programme_id: str, states: Collection[str]) -> str | None:
    return session.scalar(
        select(ProgrammeEnrolment.id).where(
            ProgrammeEnrolment.organisation_id == organisation_id,
            ProgrammeEnrolment.programme_id == programme_id,
            ProgrammeEnrolment.state.in_(list(states)),
        )
    )


def started_enrolments(session: Session, organisation_id: str, states: Collection[str]) -> list[ProgrammeEnrolment]:
    """The organisation's enrolments in `states` that began, oldest first."""
    return list(
        session.scalars(
            select(ProgrammeEnrolment)
            .where(
                ProgrammeEnrolment.organisation_id == organisation_id,
                ProgrammeEnrolment.state.in_(list(states)),
                ProgrammeEnrolment.starts_at.is_not(None),
            )
            .order_by(ProgrammeEnrolment.starts_at)
        )
    )


def enrolment_at(
    session: Session, organisation_id: str, state: str, now: datetime, programme_id: str | None = None
) -> ProgrammeEnrolment | None:
    """The organisation's enrolment in `state` whose term holds `now` (of one programme, if given)."""
    statement = select(ProgrammeEnrolment).where(
        ProgrammeEnrolment.organisation_id == organisation_id,
        ProgrammeEnrolment.state == state,
        ProgrammeEnrolment.starts_at <= now,
        ProgrammeEnrolment.ends_at > now,
    )
    if programme_id is not None:
        statement = statement.where(ProgrammeEnrolment.programme_id == programme_id)
    return session.scalar(statement)


# -- the report ---------------------------------------------------------------------------------------
def enrolment_counts(session: Session, programme_ids: Iterable[str]) -> list[tuple[str, str, int]]:
    """(programme, state, count) of the programmes' enrolments."""
    return [
        (programme_id, state, count)
        for programme_id, state, count in session.execute(
            select(ProgrammeEnrolment.programme_id, ProgrammeEnrolment.state, func.count())
            .where(ProgrammeEnrolment.programme_id.in_(list(programme_ids)))
            .group_by(ProgrammeEnrolment.programme_id, ProgrammeEnrolment.state)
        )
    ]


def funded_usage(session: Session, programme_ids: Iterable[str]) -> list[tuple[str | None, str, dict[str, int] | None]]:
    """(programme, region, used) of every live project a programme funds, as the last collection read it."""
    return [
        (programme_id, region_id, used)
        for programme_id, region_id, used in session.execute(
            select(Project.programme_id, Project.region_id, ProjectMetering.used)
            .join(ProjectMetering, ProjectMetering.project_id == Project.id)
            .where(Project.programme_id.in_(list(programme_ids)), Project.state != ProjectState.DECOMMISSIONED.value)
        )
    ]


def ending_by(
    session: Session, programme_ids: Iterable[str], states: Collection[str], until: datetime
) -> list[ProgrammeEnrolment]:
    """The programmes' enrolments in `states` ending by `until`, soonest first."""
    return list(
        session.scalars(
            select(ProgrammeEnrolment)
            .where(
                ProgrammeEnrolment.programme_id.in_(list(programme_ids)),
                ProgrammeEnrolment.state.in_(list(states)),
                ProgrammeEnrolment.ends_at <= until,
            )
            .order_by(ProgrammeEnrolment.ends_at)
        )
    )


# -- expiry -------------------------------------------------------------------------------------------
def enrolment_ids(
    session: Session, states: Collection[str], *, ends_after: datetime | None = None, ends_by: datetime | None = None
) -> list[str]:
    """Ids of the enrolments in `states` ending in (ends_after, ends_by]."""
    statement = select(ProgrammeEnrolment.id).where(ProgrammeEnrolment.state.in_(list(states)))
    if ends_after is not None:
        statement = statement.where(ProgrammeEnrolment.ends_at > ends_after)
    if ends_by is not None:
        statement = statement.where(ProgrammeEnrolment.ends_at <= ends_by)
    return list(session.scalars(statement))


def enrolment(session: Session, enrolment_id: str) -> ProgrammeEnrolment:
    return session.get_one(ProgrammeEnrolment, enrolment_id)


def enrolment_for_update(session: Session, enrolment_id: str) -> ProgrammeEnrolment | None:
    return session.scalar(select(ProgrammeEnrolment).where(ProgrammeEnrolment.id == enrolment_id).with_for_update())


def notice_days(session: Session, enrolment_id: str) -> set[int]:
    """The notices written for the enrolment, as days before its end."""
    return set(session.scalars(select(ProgrammeNotice.days_before).where(ProgrammeNotice.enrolment_id == enrolment_id)))


def notices_due(session: Session, state: str, now: datetime) -> list[tuple[str, int]]:
    """(enrolment, days before) of the notices in `state` whose e-mail is due by `now`."""
    return [
        (enrolment_id, days)
        for enrolment_id, days in session.execute(
            select(ProgrammeNotice.enrolment_id, ProgrammeNotice.days_before).where(
                ProgrammeNotice.email_state == state, ProgrammeNotice.email_next_attempt_at <= now
            )
        )
    ]


def notice_for_update(session: Session, enrolment_id: str, days: int) -> ProgrammeNotice | None:
    """The notice under its row lock, as stored now (not as this session last saw it)."""
    return session.get(ProgrammeNotice, (enrolment_id, days), with_for_update=True, populate_existing=True)


def funded_projects_for_update(session: Session, organisation_id: str, programme_id: str) -> list[Project]:
    """The organisation's live projects the programme funds, locked, by id."""
    return list(
        session.scalars(
            select(Project)
            .where(
                Project.organisation_id == organisation_id,
                Project.programme_id == programme_id,
                Project.state != ProjectState.DECOMMISSIONED.value,
            )
            .order_by(Project.id)
            .with_for_update()
        )
    )


def latest_request_by(session: Session, project_id: str, actor: str, since: datetime) -> QuotaRequest | None:
    """The newest request `actor` filed for the project since `since`."""
    return session.scalar(
        select(QuotaRequest)
        .where(
            QuotaRequest.project_id == project_id,
            QuotaRequest.created_by == actor,
            QuotaRequest.created_at >= since,
        )
        .order_by(QuotaRequest.created_at.desc())
        .limit(1)
    )
