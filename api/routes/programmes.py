from __future__ import annotations

from fastapi import status

from api.deps import CallerDep, DependenciesDep, SessionDep
from api.routes.common import Cursor, Limit, PageOut, authenticated_router
from controlplane.errors import Detail, PermissionDenied
from controlplane.programmes import service
from controlplane.programmes.report import report
from controlplane.programmes.schemas import (
    ApplicationIn,
    ChoiceIn,
    DecisionIn,
    EligibilityOut,
    EnrolmentOut,
    ProgrammeOut,
    ReportOut,
)
from controlplane.programmes.service import EnrolmentState

router = authenticated_router(prefix="/v1/programmes", tags=["programmes"])
enrolments = authenticated_router(prefix="/v1/enrolments", tags=["programmes"])


@router.get("", response_model=PageOut[ProgrammeOut])
def list_programmes(deps: DependenciesDep) -> PageOut[ProgrammeOut]:
    """The programmes the operator offers (one page: the catalogue is small)."""
    return PageOut(items=[ProgrammeOut.of(p, deps.catalogue) for p in deps.programmes.programmes], next_cursor=None)


@router.get("/{programme_id}", response_model=ProgrammeOut)
def get_programme(programme_id: str, deps: DependenciesDep) -> ProgrammeOut:
    return ProgrammeOut.of(deps.programme(programme_id), deps.catalogue)


@router.get("/{programme_id}/eligibility", response_model=EligibilityOut)
def check_eligibility(
    programme_id: str, organisation_id: str, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> EligibilityOut:
    """Whether one of your organisations is eligible today, with every reason it is not."""
    result = service.check(session, deps, caller, programme_id, organisation_id)
    return EligibilityOut(
        programme=result.programme, organisation_id=organisation_id, eligible=result.eligible, reasons=result.reasons
    )


@router.post("/{programme_id}/applications", status_code=status.HTTP_201_CREATED, response_model=EnrolmentOut)
def apply(
    programme_id: str, data: ApplicationIn, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> EnrolmentOut:
    """An organisation's admin applies. Ineligible: rejected at once with every reason. Eligible, with the
    organisation and its profile verified: enrolled at once when the programme allows it. Otherwise it waits
    for an approver, with the reason."""
    return EnrolmentOut.model_validate(service.apply(session, deps, caller, programme_id, data.organisation_id))


@router.get("/{programme_id}/report", response_model=ReportOut)
def programme_report(programme_id: str, session: SessionDep, deps: DependenciesDep, caller: CallerDep) -> ReportOut:
    """Approvers and operators: enrolments by state, reserve / granted / used per region and resource,
    and the enrolments ending within 30 days."""
    if not caller.is_staff:
        raise PermissionDenied(Detail("programme reports are for approvers and operators"))
    return ReportOut.of(report(session, deps, deps.clock.now(), programme_id)[0])


@enrolments.get("", response_model=PageOut[EnrolmentOut])
def list_enrolments(
    session: SessionDep,
    caller: CallerDep,
    limit: Limit,
    cursor: Cursor = None,
    programme: str | None = None,
    organisation_id: str | None = None,
    state: EnrolmentState | None = None,
) -> PageOut[EnrolmentOut]:
    """Your organisations' enrolments and applications (approvers and operators: everyone's), oldest first."""
    page = service.list_visible(
        session,
        caller,
        cursor=cursor,
        limit=limit,
        programme_id=programme,
        organisation_id=organisation_id,
        state=state,
    )
    return PageOut(items=[EnrolmentOut.model_validate(e) for e in page.items], next_cursor=page.next_cursor)


@enrolments.get("/{enrolment_id}", response_model=EnrolmentOut)
def get_enrolment(enrolment_id: str, session: SessionDep, caller: CallerDep) -> EnrolmentOut:
    return EnrolmentOut.model_validate(service.get(session, caller, enrolment_id))


@enrolments.post("/{enrolment_id}/approve", response_model=EnrolmentOut)
def approve_enrolment(
    enrolment_id: str, data: DecisionIn, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> EnrolmentOut:
    """Approvers: enrol a pending applicant (still eligible, organisation and profile verified)."""
    return EnrolmentOut.model_validate(service.approve(session, deps, caller, enrolment_id, data.reason))


@enrolments.post("/{enrolment_id}/reject", response_model=EnrolmentOut)
def reject_enrolment(
    enrolment_id: str, data: DecisionIn, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> EnrolmentOut:
    return EnrolmentOut.model_validate(service.reject(session, deps, caller, enrolment_id, data.reason))


@enrolments.post("/{enrolment_id}/choice", response_model=EnrolmentOut)
def choose(
    enrolment_id: str, data: ChoiceIn, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> EnrolmentOut:
    """The organisation's admins, from 30 days before the end until the grace period ends: continue at the
    normal price, or shrink to the normal envelope (without a choice, Sahab shrinks when the grace ends)."""
    return EnrolmentOut.model_validate(service.choose(session, deps, caller, enrolment_id, data.choice))
