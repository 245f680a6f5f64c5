"""Who may see and touch what. A caller sees only its own organisations' objects
(anything else answers NotFound, so existence does not leak); approvers and
operators see everything, but never decide for an organisation they belong to.

The visibility rule itself, `visible_to`, is a WHERE clause written once beside the memberships it
reads (controlplane.organisations.repository); every repository filters with it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from controlplane.domain.principal import Principal
from controlplane.domain.states import MemberRole, PlatformRole
from controlplane.errors import Detail, NotFound, PermissionDenied, SeparationOfDuties
from controlplane.organisations import repository as organisations
from controlplane.organisations.repository import visible_to
from controlplane.persistence.models import Organisation

__all__ = [
    "organisation_role",
    "require_independent",
    "require_organisation",
    "require_role",
    "visible_to",
]


def organisation_role(session: Session, principal: Principal, organisation_id: str) -> MemberRole | None:
    claimed = principal.claimed_organisations.get(organisation_id)
    stored = organisations.stored_role(session, organisation_id, principal.subject)
    roles = {MemberRole(r) for r in (claimed, stored) if r}
    if MemberRole.ADMIN in roles:
        return MemberRole.ADMIN
    return MemberRole.MEMBER if roles else None


def require_organisation(
    session: Session,
    principal: Principal,
    organisation_id: str,
    *,
    admin: bool = False,
    operator_override: bool = True,
) -> Organisation:
    organisation = organisations.get_visible(session, principal, organisation_id)
    if organisation is None:
        raise NotFound(Detail("organisation {organisation_id} not found", organisation_id=organisation_id))
    if (
        admin
        and organisation_role(session, principal, organisation_id) is not MemberRole.ADMIN
        and not (operator_override and principal.is_operator)
    ):
        raise PermissionDenied(
            Detail("only an admin of organisation {organisation_id} may do this", organisation_id=organisation_id)
        )
    return organisation


def require_role(principal: Principal, role: PlatformRole) -> None:
    if role not in principal.platform_roles:
        raise PermissionDenied(Detail("this needs the platform role {role_value!r}", role_value=role.value))


_WHO_DECIDES = {
    PlatformRole.APPROVER: Detail("another approver must decide"),
    PlatformRole.OPERATOR: Detail("another operator must decide"),
}


def require_independent(
    session: Session,
    principal: Principal,
    organisation: Organisation,
    decision: Detail,
    *,
    decider: PlatformRole,
    filed_by: str | None = None,
) -> None:
    """Separation of duties: staff never decide for an organisation they are a member of (stored or
    claimed in the token) or registered, nor on a request they filed (`filed_by`) even if they have
    left the organisation since."""
    ties = []
    if organisation_role(session, principal, organisation.id) is not None:
        ties.append(Detail("are a member of organisation {organisation_id}", organisation_id=organisation.id))
    if organisation.created_by == principal.subject:
        ties.append(Detail("registered organisation {organisation_id}", organisation_id=organisation.id))
    if filed_by == principal.subject:
        ties.append(Detail("filed this request"))
    if ties:
        raise SeparationOfDuties(
            Detail(
                "{subject} may not {decision}: they {ties}; {who_decides}",
                subject=principal.subject,
                decision=decision,
                ties=ties,
                who_decides=_WHO_DECIDES[decider],
            )
        )
