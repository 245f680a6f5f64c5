"""What operators see per programme (GET /v1/programmes/{id}/report and the /metrics gauges): enrolments by
state; per region and resource the reserve, what it funds (the running totals) and what those projects use
(the last metering collection); and the enrolments ending within 30 days."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.capacity import read_all
from controlplane.dependencies import ServiceDependencies
from controlplane.domain.resources import Resource
from controlplane.domain.states import ProjectState
from controlplane.persistence.models import ProgrammeEnrolment, Project, ProjectMetering
from controlplane.programmes.service import EnrolmentState

EXPIRY_HORIZON = timedelta(days=30)


@dataclass(frozen=True)
class Expiry:
    enrolment_id: str
    organisation_id: str
    state: str
    ends_at: datetime
    choice: str | None


@dataclass
class ProgrammeReport:
    programme: str
    enrolments: dict[str, int] = field(default_factory=dict)
    # region -> resource -> {"reserved", "granted", "used"}
    regions: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    expiring: list[Expiry] = field(default_factory=list)


def report(
    session: Session, deps: ServiceDependencies, now: datetime, programme_id: str | None = None
) -> list[ProgrammeReport]:
    programmes = [deps.programme(programme_id)] if programme_id else deps.programmes.programmes
    reports = {p.id: ProgrammeReport(p.id, {s.value: 0 for s in EnrolmentState}) for p in programmes}
    for programme_id_, state, count in session.execute(
        select(ProgrammeEnrolment.programme_id, ProgrammeEnrolment.state, func.count())
        .where(ProgrammeEnrolment.programme_id.in_(reports))
        .group_by(ProgrammeEnrolment.programme_id, ProgrammeEnrolment.state)
    ):
        reports[programme_id_].enrolments[state] = count
    used: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for funded_by, region_id, measured in session.execute(
        select(Project.programme_id, Project.region_id, ProjectMetering.used)
        .join(ProjectMetering, ProjectMetering.project_id == Project.id)
        .where(Project.programme_id.in_(reports), Project.state != ProjectState.DECOMMISSIONED.value)
    ):
        used[(funded_by or "", region_id)].update({k: v for k, v in (measured or {}).items()})
    for view in read_all(session, deps.catalogue):
        for programme in programmes:
            if programme.id not in view.region.programme_reserves and not view.sums.programmes.get(programme.id):
                continue
            reserved, granted = view.region.reserved_for(programme.id), view.sums.programme(programme.id)
            reports[programme.id].regions[view.region.id] = {
                r.value: {
                    "reserved": reserved[r],
                    "granted": granted[r],
                    "used": used[(programme.id, view.region.id)][r.value],
                }
                for r in Resource
            }
    for enrolment in session.scalars(
        select(ProgrammeEnrolment)
        .where(
            ProgrammeEnrolment.programme_id.in_(reports),
            ProgrammeEnrolment.state.in_([EnrolmentState.ENROLLED.value, EnrolmentState.EXPIRED.value]),
            ProgrammeEnrolment.ends_at <= now + EXPIRY_HORIZON,
        )
        .order_by(ProgrammeEnrolment.ends_at)
    ):
        reports[enrolment.programme_id].expiring.append(
            Expiry(enrolment.id, enrolment.organisation_id, enrolment.state, enrolment.end, enrolment.choice)
        )
    return list(reports.values())
