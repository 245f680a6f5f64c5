"""Applying to a programme, deciding, and choosing at expiry. The caller's transaction commits.

An application is judged at once: an ineligible applicant is rejected with every reason; an eligible
one whose organisation and profile an operator has verified is enrolled at once when the programme
allows it; anyone else waits for an approver, told why. Approvers decide with a reason, never for
their own organisation. One live enrolment (or application) per organisation at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.access import (
    require_independent,
    require_organisation,
    require_role,
    require_visible,
    visible_organisation_ids,
)
from controlplane.dependencies import ServiceDependencies
from controlplane.domain.principal import Principal
from controlplane.domain.states import OrganisationStatus, PlatformRole
from controlplane.errors import Conflict, Detail, InvalidTransition
from controlplane.pagination import Page, paginate
from controlplane.persistence.models import Organisation, ProgrammeEnrolment, new_id
from controlplane.programmes.catalogue import Programme
from controlplane.programmes.eligibility import Profile, ineligibility

POLICY_ACTOR = "policy"


class EnrolmentState(StrEnum):
    PENDING = "pending"
    REJECTED = "rejected"
    ENROLLED = "enrolled"
    EXPIRED = "expired"
    CONTINUED = "continued"
    SHRINKING = "shrinking"
    ENDED = "ended"


class Choice(StrEnum):
    CONTINUE = "continue"
    SHRINK = "shrink"


LIVE = (EnrolmentState.PENDING, EnrolmentState.ENROLLED, EnrolmentState.EXPIRED, EnrolmentState.SHRINKING)
# Once an organisation has held a programme it may not join it again; a rejected application may be retried.
HELD = (
    EnrolmentState.ENROLLED,
    EnrolmentState.EXPIRED,
    EnrolmentState.CONTINUED,
    EnrolmentState.SHRINKING,
    EnrolmentState.ENDED,
)


def profile_of(organisation: Organisation) -> Profile:
    return Profile(
        kind=organisation.kind,
        sector=organisation.sector,
        employees=organisation.employees,
        founded_on=organisation.founded_on,
    )


def unverified(organisation: Organisation) -> Detail | None:
    """Why the organisation's word cannot be taken yet, or None."""
    if organisation.status != OrganisationStatus.VERIFIED.value:
        return Detail(
            "organisation {organisation_id} is {status}; an operator must verify it",
            organisation_id=organisation.id,
            status=organisation.status,
        )
    if organisation.profile_verified_at is None:
        return Detail(
            "the profile of organisation {organisation_id} (sector, employees, founding date) changed since "
            "an operator verified it; an operator must verify it again",
            organisation_id=organisation.id,
        )
    return None


def _all(reasons: list[Detail]) -> Detail:
    """Reasons one after the other, separated as the language separates clauses ("; " in English)."""
    said = reasons[0]
    for reason in reasons[1:]:
        said = Detail("{reasons}; {reason}", reasons=said, reason=reason)
    return said


def apply(
    session: Session, deps: ServiceDependencies, principal: Principal, programme_id: str, organisation_id: str
) -> ProgrammeEnrolment:
    programme = deps.programme(programme_id)
    organisation = require_organisation(session, principal, organisation_id, admin=True, operator_override=False)
    # Serialises an organisation's applications (its live enrolment is unique by index as well).
    session.execute(select(Organisation.id).where(Organisation.id == organisation.id).with_for_update(key_share=True))
    live = session.scalar(
        select(ProgrammeEnrolment).where(
            ProgrammeEnrolment.organisation_id == organisation.id, ProgrammeEnrolment.state.in_([s.value for s in LIVE])
        )
    )
    if live is not None:
        raise Conflict(
            Detail(
                "organisation {organisation_id} already has enrolment {enrolment_id} in programme "
                "{programme_id} ({state}); one at a time",
                organisation_id=organisation.id,
                enrolment_id=live.id,
                programme_id=live.programme_id,
                state=live.state,
            ),
            enrolment_id=live.id,
        )
    held = session.scalar(
        select(ProgrammeEnrolment.id).where(
            ProgrammeEnrolment.organisation_id == organisation.id,
            ProgrammeEnrolment.programme_id == programme.id,
            ProgrammeEnrolment.state.in_([s.value for s in HELD]),
        )
    )
    if held is not None:
        raise Conflict(
            Detail(
                "organisation {organisation_id} was already enrolled in programme {programme_id} "
                "({enrolment_id}); a programme is granted once",
                organisation_id=organisation.id,
                programme_id=programme.id,
                enrolment_id=held,
            ),
            enrolment_id=held,
        )
    now = deps.clock.now()
    enrolment = ProgrammeEnrolment(
        id=new_id("enr"),
        programme_id=programme.id,
        organisation_id=organisation.id,
        state=EnrolmentState.PENDING.value,
        reason="",
        applied_by=principal.subject,
        created_at=now,
        updated_at=now,
    )
    session.add(enrolment)
    reasons = ineligibility(programme, profile_of(organisation), now.date())
    if reasons:
        _decide(enrolment, EnrolmentState.REJECTED, POLICY_ACTOR, now, "not eligible: " + "; ".join(reasons))
    elif (why_not := unverified(organisation)) is not None:
        enrolment.reason = f"waiting for an approver: eligible, but {why_not}"
    elif not programme.auto_enrol:
        enrolment.reason = (
            f"waiting for an approver: eligible; programme {programme.id} has every enrolment decided by an approver"
        )
    else:
        _enrol(enrolment, programme, POLICY_ACTOR, now, "enrolled automatically: eligible and verified")
    try:
        session.flush()
    except IntegrityError as error:  # another application of the same organisation won the race
        raise Conflict(
            Detail(
                "organisation {organisation_id} already has a live enrolment; one at a time",
                organisation_id=organisation.id,
            )
        ) from error
    return enrolment


def _decide(enrolment: ProgrammeEnrolment, state: EnrolmentState, actor: str, now: datetime, reason: str) -> None:
    enrolment.state, enrolment.reason = state.value, reason
    enrolment.decided_by, enrolment.decided_at, enrolment.updated_at = actor, now, now


def _enrol(enrolment: ProgrammeEnrolment, programme: Programme, actor: str, now: datetime, reason: str) -> None:
    """Enrolled from now until the same time `length_months` later (the end is exclusive)."""
    ends_on = programme.ends_on(now.date())
    _decide(
        enrolment,
        EnrolmentState.ENROLLED,
        actor,
        now,
        f"{reason}; until {ends_on.isoformat()} ({programme.length_months} months)",
    )
    enrolment.starts_at = now
    enrolment.percent_off = programme.price.percent_off.quantize(Decimal("0.01"))  # as the column stores it
    enrolment.ends_at = datetime.combine(ends_on, now.timetz()).astimezone(UTC)


def approve(
    session: Session, deps: ServiceDependencies, principal: Principal, enrolment_id: str, reason: str
) -> ProgrammeEnrolment:
    require_role(principal, PlatformRole.APPROVER)
    enrolment, organisation = _pending(session, principal, enrolment_id, "approve")
    programme = deps.programme(enrolment.programme_id)
    now = deps.clock.now()
    reasons = ineligibility(programme, profile_of(organisation), now.date())
    if reasons:
        raise Conflict(
            Detail(
                "organisation {organisation_id} is no longer eligible: {reasons}; reject it instead",
                organisation_id=organisation.id,
                reasons=_all(reasons),
            )
        )
    why_not = unverified(organisation)
    if why_not is not None:
        raise Conflict(Detail("cannot enrol yet: {why_not}", why_not=why_not))
    _enrol(enrolment, programme, principal.subject, now, f"approved by {principal.subject}: {reason}")
    session.flush()
    return enrolment


def reject(
    session: Session, deps: ServiceDependencies, principal: Principal, enrolment_id: str, reason: str
) -> ProgrammeEnrolment:
    require_role(principal, PlatformRole.APPROVER)
    enrolment, _ = _pending(session, principal, enrolment_id, "reject")
    _decide(
        enrolment,
        EnrolmentState.REJECTED,
        principal.subject,
        deps.clock.now(),
        f"rejected by {principal.subject}: {reason}",
    )
    session.flush()
    return enrolment


def _pending(
    session: Session, principal: Principal, enrolment_id: str, decision: str
) -> tuple[ProgrammeEnrolment, Organisation]:
    enrolment = _get_for_update(session, principal, enrolment_id)
    organisation = session.get_one(Organisation, enrolment.organisation_id)
    require_independent(
        session,
        principal,
        organisation,
        Detail("approve enrolment {enrolment_id}", enrolment_id=enrolment.id)
        if decision == "approve"
        else Detail("reject enrolment {enrolment_id}", enrolment_id=enrolment.id),
        decider=PlatformRole.APPROVER,
        filed_by=enrolment.applied_by,
    )
    if enrolment.state != EnrolmentState.PENDING.value:
        raise InvalidTransition(
            Detail(
                "enrolment {enrolment_id} is {state}; only a pending one can be decided",
                enrolment_id=enrolment.id,
                state=enrolment.state,
            ),
            current=enrolment.state,
            target=decision,
        )
    return enrolment, organisation


CHOICE_WINDOW_DAYS = 30  # a choice may be made from the first notice on


def choose(
    session: Session, deps: ServiceDependencies, principal: Principal, enrolment_id: str, choice: Choice
) -> ProgrammeEnrolment:
    """The organisation's admins choose, from 30 days before expiry until the grace period ends, to continue at
    the normal price or shrink to the normal envelope; beat carries the choice out at expiry (at once if later)."""
    enrolment = _get_for_update(session, principal, enrolment_id)
    require_organisation(session, principal, enrolment.organisation_id, admin=True, operator_override=False)
    if enrolment.state not in (EnrolmentState.ENROLLED.value, EnrolmentState.EXPIRED.value):
        raise InvalidTransition(
            Detail(
                "enrolment {enrolment_id} is {state}; a choice is made while enrolled or in "
                "the grace period after expiry",
                enrolment_id=enrolment.id,
                state=enrolment.state,
            ),
            current=enrolment.state,
            target=choice.value,
        )
    now = deps.clock.now()
    opens = enrolment.end - timedelta(days=CHOICE_WINDOW_DAYS)
    if now < opens:
        raise Conflict(
            Detail.counted(
                "the choice opens on {opens}, {days} day before the enrolment ends",
                "the choice opens on {opens}, {days} days before the enrolment ends",
                CHOICE_WINDOW_DAYS,
                opens=opens.date(),
                days=CHOICE_WINDOW_DAYS,
            )
        )
    enrolment.choice, enrolment.chosen_by, enrolment.chosen_at, enrolment.updated_at = (
        choice.value,
        principal.subject,
        now,
        now,
    )
    session.flush()
    return enrolment


def get(session: Session, principal: Principal, enrolment_id: str) -> ProgrammeEnrolment:
    return require_visible(
        session,
        principal,
        ProgrammeEnrolment,
        enrolment_id,
        Detail("enrolment {enrolment_id} not found", enrolment_id=enrolment_id),
    )


def _get_for_update(session: Session, principal: Principal, enrolment_id: str) -> ProgrammeEnrolment:
    return require_visible(
        session,
        principal,
        ProgrammeEnrolment,
        enrolment_id,
        Detail("enrolment {enrolment_id} not found", enrolment_id=enrolment_id),
        for_update=True,
    )


def list_visible(
    session: Session,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    programme_id: str | None = None,
    organisation_id: str | None = None,
    state: EnrolmentState | None = None,
) -> Page[ProgrammeEnrolment]:
    statement = select(ProgrammeEnrolment)
    if not principal.is_staff:
        statement = statement.where(
            ProgrammeEnrolment.organisation_id.in_(visible_organisation_ids(session, principal))
        )
    if programme_id is not None:
        statement = statement.where(ProgrammeEnrolment.programme_id == programme_id)
    if organisation_id is not None:
        statement = statement.where(ProgrammeEnrolment.organisation_id == organisation_id)
    if state is not None:
        statement = statement.where(ProgrammeEnrolment.state == state.value)
    return paginate(session, statement, ProgrammeEnrolment, cursor, limit)


@dataclass(frozen=True)
class EligibilityCheck:
    programme: str
    eligible: bool
    reasons: list[Detail]  # the API answers them in English (they are data there, as a stored reason is)


def check(
    session: Session, deps: ServiceDependencies, principal: Principal, programme_id: str, organisation_id: str
) -> EligibilityCheck:
    """Whether the organisation would be eligible today, and why not (its members only, and staff)."""
    programme = deps.programme(programme_id)
    organisation = require_organisation(session, principal, organisation_id)
    reasons = ineligibility(programme, profile_of(organisation), deps.clock.now().date())
    return EligibilityCheck(programme.id, not reasons, reasons)
