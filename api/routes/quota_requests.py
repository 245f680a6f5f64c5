from __future__ import annotations

from fastapi import Query, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.deps import CallerDep, DependenciesDep, RuntimeDep, SessionDep
from api.routes.common import Cursor, Limit, PageOut, authenticated_router
from controlplane.billing import budgets
from controlplane.composition import ApiRoot
from controlplane.dependencies import ServiceDependencies
from controlplane.domain.principal import Principal
from controlplane.domain.states import RequestState
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Organisation, QuotaRequest
from controlplane.quota_requests import service
from controlplane.quota_requests.schemas import Decision, EventOut, QuotaRequestCreate, QuotaRequestOut, RejectDecision

# Event ids are a 32-bit integer column on PostgreSQL: a larger `after` cannot even be bound there.
MAX_EVENT_ID = 2**31 - 1

router = authenticated_router(prefix="/v1/quota-requests", tags=["quota requests"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=QuotaRequestOut)
async def create_request(data: QuotaRequestCreate, runtime: RuntimeDep, caller: CallerDep) -> QuotaRequestOut:
    """Ask for quota in a region for an environment: a new project, or a change to the existing one.

    Within the organisation kind's envelope (or a decrease) it is approved at once when capacity
    allows; otherwise it waits for an approver, with the reason on the request."""
    return await run_in_threadpool(_create, runtime, caller, data)


def _create(runtime: ApiRoot, caller: Principal, data: QuotaRequestCreate) -> QuotaRequestOut:
    # The hot path owns its transaction, so that the commit follows the region's lock in the same
    # thread at once: a dependency's commit would wait for the event loop and another thread.
    with transaction(runtime.sessions) as session:
        request = service.create(session, runtime.deps, caller, data)
        return _with_estimate(session, runtime.deps, request)


def _with_estimate(session: Session, deps: ServiceDependencies, request: QuotaRequest) -> QuotaRequestOut:
    out = QuotaRequestOut.model_validate(request)
    if deps.billing is not None:
        organisation = session.get_one(Organisation, request.organisation_id)
        out.estimated_monthly_cost = budgets.request_estimate(
            session, deps.billing, organisation, request.amounts, deps.clock.now()
        )
    return out


@router.get("", response_model=PageOut[QuotaRequestOut])
def list_requests(
    session: SessionDep,
    caller: CallerDep,
    limit: Limit,
    cursor: Cursor = None,
    state: RequestState | None = None,
    organisation_id: str | None = None,
    region: str | None = None,
) -> PageOut[QuotaRequestOut]:
    page = service.list_visible(
        session, caller, cursor=cursor, limit=limit, state=state, organisation_id=organisation_id, region=region
    )
    return PageOut(items=[QuotaRequestOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/{request_id}", response_model=QuotaRequestOut)
def get_request(request_id: str, session: SessionDep, deps: DependenciesDep, caller: CallerDep) -> QuotaRequestOut:
    return _with_estimate(session, deps, service.get(session, caller, request_id))


@router.get("/{request_id}/events", response_model=list[EventOut])
def list_events(
    request_id: str,
    session: SessionDep,
    caller: CallerDep,
    after: int = Query(0, ge=0, le=MAX_EVENT_ID, description="only events with a larger id"),
) -> list[EventOut]:
    """Every transition (actor, time, from, to, reason) and progress step, oldest first."""
    return [EventOut.model_validate(e) for e in service.events(session, caller, request_id, after)]


@router.post("/{request_id}/approve", response_model=QuotaRequestOut)
def approve_request(
    request_id: str, session: SessionDep, deps: DependenciesDep, caller: CallerDep, data: Decision | None = None
) -> QuotaRequestOut:
    """Approvers only. Refused with 409 insufficient-capacity when the region cannot hold it."""
    return QuotaRequestOut.model_validate(
        service.approve(session, deps, caller, request_id, data.reason if data else None)
    )


@router.post("/{request_id}/reject", response_model=QuotaRequestOut)
def reject_request(
    request_id: str, data: RejectDecision, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> QuotaRequestOut:
    return QuotaRequestOut.model_validate(service.reject(session, deps, caller, request_id, data.reason))


@router.post("/{request_id}/cancel", response_model=QuotaRequestOut)
def cancel_request(
    request_id: str, session: SessionDep, deps: DependenciesDep, caller: CallerDep, data: Decision | None = None
) -> QuotaRequestOut:
    return QuotaRequestOut.model_validate(
        service.cancel(session, deps, caller, request_id, data.reason if data else None)
    )


@router.post("/{request_id}/retry", response_model=QuotaRequestOut)
def retry_request(request_id: str, session: SessionDep, deps: DependenciesDep, caller: CallerDep) -> QuotaRequestOut:
    """A failed request goes back to provisioning (organisation admins and operators)."""
    return QuotaRequestOut.model_validate(service.retry(session, deps, caller, request_id))
