"""Which reserve funds a request's grant: the one rule admission and approval read.

A new project of an organisation enrolled in a programme that funds the region, asking for no more
than the programme's grant, is funded from the programme's reserve and approved at once (when the
reserve has room). A project keeps its funding for life; only the programme's end moves it to the
general pool (controlplane.programmes.expiry). Everything else is the general pool's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from controlplane.domain.resources import Amounts, exceeds
from controlplane.persistence.models import ProgrammeEnrolment, Project
from controlplane.programmes import repository
from controlplane.programmes.catalogue import Programme, ProgrammeCatalogue

ENROLLED = "enrolled"


@dataclass(frozen=True)
class Funding:
    programme: str | None  # whose reserve funds the grant; None: the general pool
    within_envelope: bool = False  # enrolled now and within the programme's grant: approved at once
    why: str = ""


GENERAL = Funding(None)


def active_enrolment(
    session: Session, organisation_id: str, now: datetime, programme_id: str | None = None
) -> ProgrammeEnrolment | None:
    return repository.enrolment_at(session, organisation_id, ENROLLED, now, programme_id)


def funding_for(
    session: Session,
    programmes: ProgrammeCatalogue,
    now: datetime,
    organisation_id: str,
    region_id: str,
    project: Project | None,
    requested: Amounts,
) -> Funding:
    if project is not None and project.programme_id is None:
        return GENERAL
    enrolment = active_enrolment(session, organisation_id, now, project.programme_id if project else None)
    programme = programmes.get(enrolment.programme_id) if enrolment else None
    within = enrolment is not None and programme is not None and not exceeds(requested, programme.envelope())
    why = _why(programme, enrolment) if within and programme and enrolment else ""
    if project is not None:  # funded by a programme: it stays so, approved at once only while enrolled
        return Funding(project.programme_id, within, why)
    if not within or programme is None or region_id not in programme.funding:
        return GENERAL
    return Funding(programme.id, True, why)


def _why(programme: Programme, enrolment: ProgrammeEnrolment) -> str:
    return (
        f"within the envelope of programme {programme.id} ({programme.name}), enrolled until "
        f"{enrolment.end.date().isoformat()}, funded from its reserve"
    )
