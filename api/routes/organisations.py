from __future__ import annotations

from fastapi import Response, status

from api.deps import CallerDep, CoreDep, SessionDep
from api.routes.common import Cursor, Limit, PageOut, authenticated_router
from controlplane.domain.states import OrganisationStatus
from controlplane.organisations import service
from controlplane.organisations.schemas import MemberAdd, MemberOut, OrganisationCreate, OrganisationOut

router = authenticated_router(prefix="/v1/organisations", tags=["organisations"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OrganisationOut)
def register_organisation(data: OrganisationCreate, session: SessionDep, core: CoreDep, caller: CallerDep) -> OrganisationOut:
    """Register an organisation; the caller becomes its admin. It can request quota once an operator verifies it."""
    return OrganisationOut.model_validate(service.register(session, core.clock, caller, data))


@router.get("", response_model=PageOut[OrganisationOut])
def list_organisations(session: SessionDep, caller: CallerDep, cursor: Cursor = None, limit: Limit = 50) -> PageOut[OrganisationOut]:
    page = service.list_visible(session, caller, cursor, limit)
    return PageOut(items=[OrganisationOut.model_validate(o) for o in page.items], next_cursor=page.next_cursor)


@router.get("/{organisation_id}", response_model=OrganisationOut)
def get_organisation(organisation_id: str, session: SessionDep, caller: CallerDep) -> OrganisationOut:
    return OrganisationOut.model_validate(service.get(session, caller, organisation_id))


@router.post("/{organisation_id}/verify", response_model=OrganisationOut)
def verify_organisation(organisation_id: str, session: SessionDep, caller: CallerDep) -> OrganisationOut:
    """Operators only: the organisation's identity was checked; it may now request quota."""
    return OrganisationOut.model_validate(service.set_status(session, caller, organisation_id, OrganisationStatus.VERIFIED))


@router.post("/{organisation_id}/suspend", response_model=OrganisationOut)
def suspend_organisation(organisation_id: str, session: SessionDep, caller: CallerDep) -> OrganisationOut:
    return OrganisationOut.model_validate(service.set_status(session, caller, organisation_id, OrganisationStatus.SUSPENDED))


@router.get("/{organisation_id}/members", response_model=list[MemberOut])
def list_members(organisation_id: str, session: SessionDep, caller: CallerDep) -> list[MemberOut]:
    return [MemberOut.model_validate(m) for m in service.list_members(session, caller, organisation_id)]


@router.post("/{organisation_id}/members", status_code=status.HTTP_201_CREATED, response_model=MemberOut)
def add_member(organisation_id: str, data: MemberAdd, session: SessionDep, core: CoreDep, caller: CallerDep) -> MemberOut:
    """Admins only: add a member, or change a member's role."""
    return MemberOut.model_validate(service.add_member(session, core.clock, caller, organisation_id, data))


@router.delete("/{organisation_id}/members/{subject}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(organisation_id: str, subject: str, session: SessionDep, caller: CallerDep) -> Response:
    service.remove_member(session, caller, organisation_id, subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
