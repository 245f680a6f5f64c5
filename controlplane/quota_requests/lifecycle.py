"""Every state change of a request goes through `transition`: it checks the one
transition table, appends the event and counts it once the transaction commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from controlplane.domain.states import RequestState, check_transition
from controlplane.observability.counters import REQUEST_TRANSITIONS
from controlplane.persistence.database import after_commit
from controlplane.persistence.models import QuotaRequest, RequestEvent
from controlplane.ports import Clock
from controlplane.quota_requests import repository


def transition(
    session: Session,
    clock: Clock,
    request: QuotaRequest,
    target: RequestState,
    *,
    actor: str,
    organisation_kind: str,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    current = RequestState(request.state)
    check_transition(current, target)
    now = clock.now()
    request.state = target.value
    request.reason = reason
    request.updated_at = now
    repository.add_event(
        session,
        RequestEvent(
            request_id=request.id,
            at=now,
            actor=actor,
            from_state=current.value,
            to_state=target.value,
            reason=reason,
            detail=detail,
        ),
    )
    after_commit(session, lambda: REQUEST_TRANSITIONS.labels(target.value, organisation_kind).inc())


def record_created(
    session: Session, clock: Clock, request: QuotaRequest, *, actor: str, organisation_kind: str
) -> None:
    repository.add_event(
        session,
        RequestEvent(
            request_id=request.id,
            at=clock.now(),
            actor=actor,
            from_state=None,
            to_state=RequestState.SUBMITTED.value,
            reason=request.justification,
            detail=None,  # the same columns as a transition's event: both are inserted in one statement
        ),
    )
    after_commit(session, lambda: REQUEST_TRANSITIONS.labels(RequestState.SUBMITTED.value, organisation_kind).inc())


def record_progress(
    session: Session,
    clock: Clock,
    request_id: str,
    message: str,
    detail: dict[str, Any] | None = None,
    actor: str = "worker",
) -> None:
    """A step of a long operation that is not a transition (e.g. a resource created)."""
    repository.add_event(
        session, RequestEvent(request_id=request_id, at=clock.now(), actor=actor, reason=message, detail=detail)
    )
