"""Organisations and their members. Quota may be requested once an operator has verified one.

A national ID is unique among verified organisations only: anyone may register with any
ID and gets the same answer whether or not it is already claimed (so squatting locks no
one out and probing learns nothing); the operator who verifies decides who really holds it.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.access import require_independent, require_organisation, require_role
from controlplane.clock import SystemClock
from controlplane.domain.principal import Principal
from controlplane.domain.states import MemberRole, OrganisationStatus, PlatformRole
from controlplane.errors import Conflict, Detail, InvalidInput, NationalIdAlreadyVerified, NotFound
from controlplane.organisations import repository
from controlplane.organisations.schemas import MemberAdd, OrganisationCreate, Profile, ProfileUpdate
from controlplane.pagination import Page
from controlplane.persistence.models import Membership, Organisation, new_id
from controlplane.ports import Clock


def register(session: Session, clock: Clock, principal: Principal, data: OrganisationCreate) -> Organisation:
    # No look-up of the national ID here, on purpose: see the module's docstring.
    now = clock.now()
    _check_profile(data, clock)
    organisation = Organisation(
        id=new_id("org"),
        kind=data.kind.value,
        legal_name=data.legal_name,
        national_id=data.national_id,
        contact_email=data.contact_email,
        status=OrganisationStatus.PENDING_VERIFICATION.value,
        created_by=principal.subject,
        created_at=now,
        sector=data.sector.value if data.sector else None,
        employees=data.employees,
        founded_on=data.founded_on,
    )
    admin = Membership(
        organisation_id=organisation.id, subject=principal.subject, role=MemberRole.ADMIN.value, created_at=now
    )
    repository.add(session, organisation, admin)
    return organisation


def _check_profile(data: Profile, clock: Clock) -> None:
    if data.founded_on is not None and data.founded_on > clock.now().date():
        raise InvalidInput(Detail("founded_on {founded_on} is in the future", founded_on=data.founded_on))


def update_profile(
    session: Session, clock: Clock, principal: Principal, organisation_id: str, data: ProfileUpdate
) -> Organisation:
    """Admins update sector, employees or founding date. A change clears the operator's verification of
    the profile (programmes wait for an approver until an operator verifies it again); the same values
    leave it as it is."""
    _check_profile(data, clock)
    organisation = require_organisation(session, principal, organisation_id, admin=True, operator_override=False)
    repository.lock_key_share(session, organisation.id)
    changes = {
        "sector": data.sector.value if data.sector else None,
        "employees": data.employees,
        "founded_on": data.founded_on,
    }
    changed = False
    for name in data.model_fields_set:
        if getattr(organisation, name) != changes[name]:
            setattr(organisation, name, changes[name])
            changed = True
    if changed:
        organisation.profile_verified_at = None
    session.flush()
    return organisation


def get(session: Session, principal: Principal, organisation_id: str) -> Organisation:
    return require_organisation(session, principal, organisation_id)


def list_visible(session: Session, principal: Principal, cursor: str | None, limit: int) -> Page[Organisation]:
    return repository.page_visible(session, principal, cursor, limit)


def set_status(
    session: Session, principal: Principal, organisation_id: str, status: OrganisationStatus, clock: Clock | None = None
) -> Organisation:
    require_role(principal, PlatformRole.OPERATOR)
    organisation = repository.get(session, organisation_id)
    if organisation is None:
        raise NotFound(Detail("organisation {organisation_id} not found", organisation_id=organisation_id))
    if status is OrganisationStatus.VERIFIED:
        require_independent(
            session,
            principal,
            organisation,
            Detail("verify organisation {organisation_id}", organisation_id=organisation.id),
            decider=PlatformRole.OPERATOR,
        )
        _refuse_second_holder(session, organisation)
        # Verifying (again) covers the profile as it is now: sector, employees, founding date.
        organisation.profile_verified_at = (clock or SystemClock()).now()
    organisation.status = status.value
    try:
        session.flush()
    except IntegrityError as error:  # another operator verified a holder of the same ID at the same moment
        raise _already_verified(organisation, holder=None) from error
    return organisation


def _refuse_second_holder(session: Session, organisation: Organisation) -> None:
    holder = repository.verified_holder(session, organisation)
    if holder:
        raise _already_verified(organisation, holder)


def _already_verified(organisation: Organisation, holder: str | None) -> NationalIdAlreadyVerified:
    # Only operators get here, and they see every organisation: naming the holder leaks nothing.
    who = f"organisation {holder}" if holder else "another organisation"
    return NationalIdAlreadyVerified(
        Detail(
            "{who} is already verified with {organisation_kind} national id {organisation_national_id}; suspend it "
            "first if {organisation_id} is the real holder",
            who=who,
            organisation_kind=organisation.kind,
            organisation_national_id=organisation.national_id,
            organisation_id=organisation.id,
        ),
        holder=holder,
    )


def list_members(session: Session, principal: Principal, organisation_id: str) -> list[Membership]:
    require_organisation(session, principal, organisation_id)
    return repository.members(session, organisation_id)


def add_member(
    session: Session, clock: Clock, principal: Principal, organisation_id: str, data: MemberAdd
) -> Membership:
    require_organisation(session, principal, organisation_id, admin=True)
    member = repository.membership(session, organisation_id, data.subject)
    if member is None:
        member = Membership(
            organisation_id=organisation_id, subject=data.subject, role=data.role.value, created_at=clock.now()
        )
        repository.add_membership(session, member)
    else:
        _keep_an_admin(session, organisation_id, leaving=member, new_role=data.role)
        member.role = data.role.value
    session.flush()
    return member


def remove_member(session: Session, principal: Principal, organisation_id: str, subject: str) -> None:
    require_organisation(session, principal, organisation_id, admin=True)
    member = repository.membership(session, organisation_id, subject)
    if member is None:
        raise NotFound(
            Detail(
                "{subject} is not a member of organisation {organisation_id}",
                subject=subject,
                organisation_id=organisation_id,
            )
        )
    _keep_an_admin(session, organisation_id, leaving=member, new_role=None)
    repository.remove_membership(session, member)
    session.flush()


def _keep_an_admin(session: Session, organisation_id: str, leaving: Membership, new_role: MemberRole | None) -> None:
    if leaving.role != MemberRole.ADMIN.value or new_role is MemberRole.ADMIN:
        return
    if repository.count_admins(session, organisation_id) <= 1:
        raise Conflict(
            Detail(
                "{leaving_subject} is the last admin of organisation {organisation_id}; add another admin first",
                leaving_subject=leaving.subject,
                organisation_id=organisation_id,
            )
        )
