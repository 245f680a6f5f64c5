"""Quota requests: create, decide, cancel, retry; the approval policy and admission.

The caller's transaction (the API request, a worker's unit of work) owns the
commit; these functions only flush. Tasks are queued to run after commit.

Every amount is bounded by the region's capacity,
and an organisation has at most `policy.max_pending_requests` waiting for a decision.
Approvers never decide on their own organisation's requests (access.require_independent).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.access import (
    require_independent,
    require_organisation,
    require_role,
    require_visible,
    visible_organisation_ids,
)
from controlplane.billing import budgets
from controlplane.dependencies import ServiceDependencies
from controlplane.domain.principal import Principal
from controlplane.domain.regions import Region
from controlplane.domain.resources import Amounts, Resource, amounts, as_plain, check_within, exceeds, preset
from controlplane.domain.states import (
    OrganisationKind,
    OrganisationStatus,
    PlatformRole,
    ProjectState,
    RegionStatus,
    RequestState,
    check_transition,
)
from controlplane.errors import (
    BelowUsage,
    Conflict,
    Detail,
    InsufficientCapacity,
    InvalidTransition,
    OrganisationNotVerified,
    RegionNotOpen,
    TooManyPendingRequests,
)
from controlplane.observability.counters import ADMISSION_DECISIONS
from controlplane.pagination import Page, paginate
from controlplane.persistence.database import after_commit, savepoint
from controlplane.persistence.models import Organisation, Project, QuotaRequest, RequestEvent, new_id
from controlplane.programmes.funding import Funding, funding_for
from controlplane.quota_requests.admission import NoRoom, reserve
from controlplane.quota_requests.lifecycle import record_created, transition
from controlplane.quota_requests.schemas import QuotaRequestCreate

POLICY_ACTOR = "policy"


def requested_amounts(data: QuotaRequestCreate, region: Region) -> Amounts:
    base = as_plain(region.preset(data.preset)) if data.preset else {}
    return amounts({**base, **data.amounts})


def create(session: Session, deps: ServiceDependencies, principal: Principal, data: QuotaRequestCreate) -> QuotaRequest:
    organisation = require_organisation(session, principal, data.organisation_id)
    if organisation.status != OrganisationStatus.VERIFIED.value:
        raise OrganisationNotVerified(
            Detail(
                "organisation {organisation_id} is {organisation_status}; an operator must verify it before it can "
                "request quota",
                organisation_id=organisation.id,
                organisation_status=organisation.status,
            )
        )
    region = deps.region(data.region)
    requested = requested_amounts(data, region)
    project = _live_project(session, organisation.id, region.id, data.environment)
    current = amounts(project.granted) if project else amounts()
    check_grantable(region, requested, current)
    _check_region_accepts(region, requested, current)
    if project is not None:
        if project.state != ProjectState.ACTIVE.value:
            raise Conflict(
                Detail(
                    "project {project_id} is {project_state}; a change can be requested once it is active",
                    project_id=project.id,
                    project_state=project.state,
                )
            )
        kind = "change"
    else:
        kind = "create"
    open_request = session.scalar(
        select(QuotaRequest.id).where(
            QuotaRequest.organisation_id == organisation.id,
            QuotaRequest.region_id == region.id,
            QuotaRequest.environment == data.environment,
            QuotaRequest.state == RequestState.SUBMITTED.value,
        )
    )
    if open_request:
        raise Conflict(
            Detail(
                "request {open_request} for {region_id}/{data_environment} is still waiting for a "
                "decision; cancel it first",
                open_request=open_request,
                region_id=region.id,
                data_environment=data.environment,
            )
        )
    _check_pending_limit(session, deps, organisation)
    if deps.billing is not None and exceeds(requested, current):
        budgets.check_increase(
            session, deps.billing, organisation, project.id if project else None, as_plain(requested), deps.clock.now()
        )

    now = deps.clock.now()
    request = QuotaRequest(
        id=new_id("req"),
        organisation_id=organisation.id,
        region_id=region.id,
        environment=data.environment,
        project_id=project.id if project else None,
        kind=kind,
        amounts=as_plain(requested),
        justification=data.justification,
        state=RequestState.SUBMITTED.value,
        created_by=principal.subject,
        created_at=now,
        updated_at=now,
    )
    if project is not None:
        request.preview = {"quota": quota_changes(current, requested)}
    session.add(request)
    record_created(session, deps.clock, request, actor=principal.subject, organisation_kind=organisation.kind)
    session.flush()  # the request exists whatever the policy decides: written before it, outside any savepoint
    _apply_policy(session, deps, organisation, region, request, project, current)
    session.flush()
    if project is not None and request.state == RequestState.SUBMITTED.value:
        request_id = request.id  # an approver will want to see what the cloud will do
        after_commit(session, lambda: deps.queue.preview(request_id))
    return request


def quota_changes(current: Amounts, requested: Amounts) -> dict[str, dict[str, int]]:
    return {r.value: {"from": current[r], "to": requested[r]} for r in Resource if current[r] != requested[r]}


def check_grantable(region: Region, requested: Amounts, current: Amounts) -> None:
    """No more than the region's whole capacity (raw times overcommit), which it could never grant
    even empty; what is free now, and the agencies' share, are admission's to judge. Only increases
    are checked, so a project granted more before the catalogue shrank can still shrink."""
    bound = region.effective_capacity()
    check_within(requested, {r: max(bound[r], current[r]) for r in Resource}, f"the capacity of region {region.id}")


def _check_pending_limit(session: Session, deps: ServiceDependencies, organisation: Organisation) -> None:
    # Serialise the count per organisation (FOR NO KEY UPDATE: rows that reference the organisation
    # still insert); on SQLite every transaction already holds the write lock.
    session.execute(select(Organisation.id).where(Organisation.id == organisation.id).with_for_update(key_share=True))
    waiting = session.scalar(
        select(func.count())
        .select_from(QuotaRequest)
        .where(
            QuotaRequest.organisation_id == organisation.id,
            QuotaRequest.state == RequestState.SUBMITTED.value,
        )
    )
    limit = deps.policy.max_pending_requests
    if (waiting or 0) >= limit:
        raise TooManyPendingRequests(
            Detail.counted(
                "organisation {organisation_id} already has {waiting} request waiting for a decision (at "
                "most "
                "{limit}); cancel it or wait for an approver to decide",
                "organisation {organisation_id} already has {waiting} requests waiting for a decision (at most "
                "{limit}); cancel one or wait for an approver to decide",
                waiting or 0,
                organisation_id=organisation.id,
                waiting=waiting,
                limit=limit,
            ),
            pending=waiting,
            limit=limit,
        )


def _check_region_accepts(region: Region, requested: Amounts, current: Amounts) -> None:
    if region.status == RegionStatus.CLOSED:
        raise RegionNotOpen(Detail("region {region_id} is closed", region_id=region.id))
    if region.status == RegionStatus.DRAINING and exceeds(requested, current):
        raise RegionNotOpen(Detail("region {region_id} is draining: it accepts decreases only", region_id=region.id))


def _live_project(session: Session, organisation_id: str, region_id: str, environment: str) -> Project | None:
    return session.scalar(
        select(Project)
        .where(
            Project.organisation_id == organisation_id,
            Project.region_id == region_id,
            Project.environment == environment,
            Project.state != ProjectState.DECOMMISSIONED.value,
        )
        .with_for_update()
    )


def _apply_policy(
    session: Session,
    deps: ServiceDependencies,
    organisation: Organisation,
    region: Region,
    request: QuotaRequest,
    project: Project | None,
    current: Amounts,
) -> None:
    requested = amounts(request.amounts)
    below = _below_usage(project, requested)
    if below:
        transition(
            session,
            deps.clock,
            request,
            RequestState.REJECTED,
            actor=POLICY_ACTOR,
            organisation_kind=organisation.kind,
            reason=f"{BelowUsage.title}: {below}",
            detail={"usage": project.last_usage if project else None},
        )
        _count("rejected_below_usage")
        return
    decision = policy_decision(session, deps, organisation, region, project, requested, current)
    if decision.needs_approver:
        request.reason = decision.reason
        _count("needs_approval")
        return
    try:
        # Granted tentatively: everything is written first, and the region locked and checked last.
        with savepoint(session):
            _grant(
                session,
                deps,
                organisation,
                region,
                request,
                project,
                decision.funding,
                actor=POLICY_ACTOR,
                reason=decision.reason,
            )
    except NoRoom as refused:
        if decision.by_programme:
            request.reason = (
                f"waiting for an approver: not enough free capacity in the reserve of programme "
                f"{decision.funding.programme}: {refused}"
            )
            _count("insufficient_programme_capacity")
        else:
            request.reason = f"waiting for an approver: not enough free capacity: {refused}"
            _count("insufficient_capacity")
        return
    _count("approved_by_programme" if decision.by_programme else "approved_automatically")


@dataclass(frozen=True)
class PolicyDecision:
    """What the approval policy makes of a request, before admission checks the free capacity: the
    one rule that create() applies and the portal's preview shows."""

    funding: Funding  # whose reserve the grant would come from
    by_programme: bool  # approved at once within an enrolled programme's envelope
    above_envelope: list[Resource]  # not by programme: what takes it above its kind's envelope
    reason: str  # what the request's reason will say

    @property
    def needs_approver(self) -> bool:
        return bool(self.above_envelope)


def policy_decision(
    session: Session,
    deps: ServiceDependencies,
    organisation: Organisation,
    region: Region,
    project: Project | None,
    requested: Amounts,
    current: Amounts,
) -> PolicyDecision:
    """Programme funding first (an enrolled organisation within its programme's envelope is approved at
    once from the programme's reserve), then the organisation kind's envelope; a decrease of a live
    project's grant is approved at once."""
    kind = OrganisationKind(organisation.kind)
    envelope_name = deps.policy.envelope.get(kind.value)
    is_decrease = project is not None and not exceeds(requested, current)
    funding = _funding(session, deps, organisation, region, project, requested)
    if funding.within_envelope and not is_decrease:
        return PolicyDecision(funding, True, [], f"approved automatically: {funding.why}")
    above = needs_approver(deps, kind, requested, current if project is not None else None)
    if above:
        names = ", ".join(r.value for r in above)
        return PolicyDecision(
            funding,
            False,
            above,
            f"waiting for an approver: above the {kind.value} envelope ({envelope_name or 'none'}) for {names}",
        )
    why = "a decrease" if is_decrease else f"within the {kind.value} envelope ({envelope_name})"
    return PolicyDecision(funding, False, [], f"approved automatically: {why}")


def needs_approver(
    deps: ServiceDependencies, kind: OrganisationKind, requested: Amounts, current: Amounts | None
) -> list[Resource]:
    """The resources that take the request above its organisation kind's envelope: none means the policy
    approves it at once when capacity allows (so does a decrease of an existing grant, `current`)."""
    if current is not None and not exceeds(requested, current):
        return []
    envelope_name = deps.policy.envelope.get(kind.value)
    return exceeds(requested, preset(envelope_name)) if envelope_name else list(Resource)


def _below_usage(project: Project | None, requested: Amounts) -> str:
    usage = (project.last_usage or {}) if project else {}
    known = {r.value for r in Resource}
    below = [
        f"{name} requested {requested[Resource(name)]}, in use {used}"
        for name, used in usage.items()
        if name in known and requested[Resource(name)] < used
    ]
    return "; ".join(below)


def _funding(
    session: Session,
    deps: ServiceDependencies,
    organisation: Organisation,
    region: Region,
    project: Project | None,
    requested: Amounts,
) -> Funding:
    return funding_for(session, deps.programmes, deps.clock.now(), organisation.id, region.id, project, requested)


def _grant(
    session: Session,
    deps: ServiceDependencies,
    organisation: Organisation,
    region: Region,
    request: QuotaRequest,
    project: Project | None,
    funding: Funding,
    *,
    actor: str,
    reason: str | None,
) -> None:
    """Approve and grant from `funding`'s pool, or raise NoRoom (the caller rolls back what was written)."""
    requested = amounts(request.amounts)
    transition(
        session,
        deps.clock,
        request,
        RequestState.APPROVED,
        actor=actor,
        organisation_kind=organisation.kind,
        reason=reason,
    )
    now = deps.clock.now()
    if project is None:
        project = Project(
            id=new_id("prj"),
            organisation_id=organisation.id,
            region_id=request.region_id,
            environment=request.environment,
            state=ProjectState.PENDING.value,
            granted=as_plain(requested),
            current_request_id=request.id,
            outputs={},
            created_at=now,
            updated_at=now,
            programme_id=funding.programme,
        )
        session.add(project)
        request.project_id = project.id
        before, after = amounts(), requested
    else:
        # Until the change is applied, hold whichever is larger of old and new.
        before = amounts(project.granted)
        after = {r: max(before[r], requested[r]) for r in Resource}
        project.granted = as_plain(after)
        project.state = ProjectState.PENDING.value
        project.current_request_id = request.id
        project.updated_at = now
    session.flush()
    reserve(session, region, organisation.kind, before, after, project.programme_id)
    request_id = request.id
    after_commit(session, lambda: deps.queue.provision(request_id))


def _count(outcome: str) -> None:
    ADMISSION_DECISIONS.labels(outcome).inc()


def approve(
    session: Session, deps: ServiceDependencies, principal: Principal, request_id: str, reason: str | None
) -> QuotaRequest:
    require_role(principal, PlatformRole.APPROVER)
    request = _get_for_update(session, principal, request_id)
    check_transition(RequestState(request.state), RequestState.APPROVED)
    organisation = session.get_one(Organisation, request.organisation_id)
    require_independent(
        session,
        principal,
        organisation,
        Detail("approve request {request_id}", request_id=request.id),
        decider=PlatformRole.APPROVER,
        filed_by=request.created_by,
    )
    region = deps.region(request.region_id)
    # Locked before the region, as every path that changes a grant does: its grant is what the totals hold.
    project = (
        session.get(Project, request.project_id, with_for_update=True, populate_existing=True)
        if request.project_id
        else None
    )
    if project is None and _live_project(session, request.organisation_id, request.region_id, request.environment):
        raise Conflict(
            Detail(
                "{request_region_id}/{request_environment} already has a live project",
                request_region_id=request.region_id,
                request_environment=request.environment,
            )
        )
    if project is not None and project.state != ProjectState.ACTIVE.value:
        raise Conflict(
            Detail(
                "project {project_id} is {project_state}; it must be active to apply a change",
                project_id=project.id,
                project_state=project.state,
            )
        )
    current = amounts(project.granted) if project else amounts()
    requested = amounts(request.amounts)
    _check_region_accepts(region, requested, current)
    funding = _funding(session, deps, organisation, region, project, requested)
    try:
        with savepoint(session):  # a refusal leaves nothing written
            _grant(
                session, deps, organisation, region, request, project, funding, actor=principal.subject, reason=reason
            )
    except NoRoom as refused:
        _count("denied_insufficient_capacity")
        raise InsufficientCapacity(
            Detail("not enough free capacity in region {region_id}: {refused}", region_id=region.id, refused=refused),
            shortfalls=[
                {"resource": s.resource.value, "requested": s.requested, "free": s.free, "scope": s.scope}
                for s in refused.shortfalls
            ],
        ) from None
    _count("approved_by_approver")
    session.flush()
    return request


def reject(
    session: Session, deps: ServiceDependencies, principal: Principal, request_id: str, reason: str
) -> QuotaRequest:
    require_role(principal, PlatformRole.APPROVER)
    request = _get_for_update(session, principal, request_id)
    organisation = session.get_one(Organisation, request.organisation_id)
    # Rejecting is deciding too; a member who wants to withdraw a request cancels it instead.
    require_independent(
        session,
        principal,
        organisation,
        Detail("reject request {request_id}", request_id=request.id),
        decider=PlatformRole.APPROVER,
        filed_by=request.created_by,
    )
    transition(
        session,
        deps.clock,
        request,
        RequestState.REJECTED,
        actor=principal.subject,
        organisation_kind=organisation.kind,
        reason=reason,
    )
    _count("rejected_by_approver")
    session.flush()
    return request


def cancel(
    session: Session, deps: ServiceDependencies, principal: Principal, request_id: str, reason: str | None
) -> QuotaRequest:
    request = _get_for_update(session, principal, request_id)
    organisation = require_organisation(session, principal, request.organisation_id)
    transition(
        session,
        deps.clock,
        request,
        RequestState.CANCELLED,
        actor=principal.subject,
        organisation_kind=organisation.kind,
        reason=reason or "cancelled by the requester",
    )
    session.flush()
    return request


def retry(session: Session, deps: ServiceDependencies, principal: Principal, request_id: str) -> QuotaRequest:
    """failed -> provisioning, and hand it to a worker again."""
    request = _get_for_update(session, principal, request_id)
    if not principal.is_operator:
        require_organisation(session, principal, request.organisation_id, admin=True)
    if request.state != RequestState.FAILED.value:
        # approved -> provisioning is the worker's step, not something a caller may ask for.
        raise InvalidTransition(
            Detail(
                "only a failed request can be retried; {request_id} is {request_state}",
                request_id=request.id,
                request_state=request.state,
            ),
            current=request.state,
            target=RequestState.PROVISIONING.value,
        )
    organisation = session.get_one(Organisation, request.organisation_id)
    transition(
        session,
        deps.clock,
        request,
        RequestState.PROVISIONING,
        actor=principal.subject,
        organisation_kind=organisation.kind,
        reason="retry requested",
    )
    project = session.get_one(Project, request.project_id)
    project.state = ProjectState.PROVISIONING.value
    project.updated_at = deps.clock.now()
    session.flush()
    after_commit(session, lambda: deps.queue.provision(request_id))
    return request


def get(session: Session, principal: Principal, request_id: str) -> QuotaRequest:
    return require_visible(
        session,
        principal,
        QuotaRequest,
        request_id,
        Detail("quota request {request_id} not found", request_id=request_id),
    )


def _get_for_update(session: Session, principal: Principal, request_id: str) -> QuotaRequest:
    return require_visible(
        session,
        principal,
        QuotaRequest,
        request_id,
        Detail("quota request {request_id} not found", request_id=request_id),
        for_update=True,
    )


def list_visible(
    session: Session,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    state: RequestState | None = None,
    organisation_id: str | None = None,
    region: str | None = None,
) -> Page[QuotaRequest]:
    statement = select(QuotaRequest)
    if not principal.is_staff:
        statement = statement.where(QuotaRequest.organisation_id.in_(visible_organisation_ids(session, principal)))
    if state is not None:
        statement = statement.where(QuotaRequest.state == state.value)
    if organisation_id is not None:
        statement = statement.where(QuotaRequest.organisation_id == organisation_id)
    if region is not None:
        statement = statement.where(QuotaRequest.region_id == region)
    return paginate(session, statement, QuotaRequest, cursor, limit)


def events(session: Session, principal: Principal, request_id: str, after: int = 0) -> list[RequestEvent]:
    get(session, principal, request_id)
    return list(
        session.scalars(
            select(RequestEvent)
            .where(RequestEvent.request_id == request_id, RequestEvent.id > after)
            .order_by(RequestEvent.id)
        )
    )
