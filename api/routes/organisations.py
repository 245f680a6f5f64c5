from __future__ import annotations

from fastapi import Response, status

from api.deps import CallerDep, DependenciesDep, RuntimeDep, SessionDep
from api.routes.common import Cursor, Limit, PageOut, authenticated_router
from controlplane.domain.states import OrganisationStatus
from controlplane.organisations import service
from controlplane.organisations.schemas import MemberAdd, MemberOut, OrganisationCreate, OrganisationOut, ProfileUpdate
from controlplane.webhooks import service as webhooks
from controlplane.webhooks.schemas import DeliveryOut, DeliveryState, WebhookIn, WebhookOut

router = authenticated_router(prefix="/v1/organisations", tags=["organisations"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OrganisationOut)
def register_organisation(
    data: OrganisationCreate, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> OrganisationOut:
    """Register an organisation; the caller becomes its admin. It can request quota once an operator verifies it."""
    return OrganisationOut.model_validate(service.register(session, deps.clock, caller, data))


@router.get("", response_model=PageOut[OrganisationOut])
def list_organisations(
    session: SessionDep, caller: CallerDep, limit: Limit, cursor: Cursor = None
) -> PageOut[OrganisationOut]:
    page = service.list_visible(session, caller, cursor, limit)
    return PageOut(items=[OrganisationOut.model_validate(o) for o in page.items], next_cursor=page.next_cursor)


@router.get("/{organisation_id}", response_model=OrganisationOut)
def get_organisation(organisation_id: str, session: SessionDep, caller: CallerDep) -> OrganisationOut:
    return OrganisationOut.model_validate(service.get(session, caller, organisation_id))


@router.post("/{organisation_id}/verify", response_model=OrganisationOut)
def verify_organisation(
    organisation_id: str, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> OrganisationOut:
    """Operators only: the organisation's identity and profile (sector, employees, founding date) were checked
    with it; it may now request quota. Verifying again after a profile change covers the new profile."""
    return OrganisationOut.model_validate(
        service.set_status(session, caller, organisation_id, OrganisationStatus.VERIFIED, deps.clock)
    )


@router.patch("/{organisation_id}", response_model=OrganisationOut)
def update_organisation_profile(
    organisation_id: str, data: ProfileUpdate, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> OrganisationOut:
    """Admins update the profile (sector, employees, founded_on). A change clears its verification until an
    operator verifies the organisation again; programmes then wait for an approver."""
    return OrganisationOut.model_validate(service.update_profile(session, deps.clock, caller, organisation_id, data))


@router.post("/{organisation_id}/suspend", response_model=OrganisationOut)
def suspend_organisation(organisation_id: str, session: SessionDep, caller: CallerDep) -> OrganisationOut:
    return OrganisationOut.model_validate(
        service.set_status(session, caller, organisation_id, OrganisationStatus.SUSPENDED)
    )


@router.get("/{organisation_id}/members", response_model=list[MemberOut])
def list_members(organisation_id: str, session: SessionDep, caller: CallerDep) -> list[MemberOut]:
    return [MemberOut.model_validate(m) for m in service.list_members(session, caller, organisation_id)]


@router.post("/{organisation_id}/members", status_code=status.HTTP_201_CREATED, response_model=MemberOut)
def add_member(
    organisation_id: str, data: MemberAdd, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> MemberOut:
    """Admins only: add a member, or change a member's role."""
    return MemberOut.model_validate(service.add_member(session, deps.clock, caller, organisation_id, data))


@router.delete("/{organisation_id}/members/{subject}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(organisation_id: str, subject: str, session: SessionDep, caller: CallerDep) -> Response:
    service.remove_member(session, caller, organisation_id, subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- the organisation's usage-alert webhook (its admins only) -----------------------------------------
@router.get("/{organisation_id}/alert-webhook", response_model=WebhookOut)
def get_alert_webhook(organisation_id: str, session: SessionDep, caller: CallerDep) -> WebhookOut:
    return WebhookOut.model_validate(webhooks.get_webhook(session, caller, organisation_id))


@router.put("/{organisation_id}/alert-webhook", response_model=WebhookOut)
def set_alert_webhook(
    organisation_id: str, data: WebhookIn, session: SessionDep, runtime: RuntimeDep, caller: CallerDep
) -> WebhookOut:
    """Where usage alerts (80 % and 90 % of a quota) are POSTed. The host must resolve to public addresses
    only (unless the operator allow-lists it); it is checked again at every delivery. A new signing secret is
    made and shown once: X-Sahab-Signature = sha256=HMAC-SHA256(secret, '<X-Sahab-Timestamp>.<body>')."""
    return WebhookOut.model_validate(
        webhooks.set_webhook(session, runtime.webhook_targets, caller, organisation_id, str(data.url))
    )


@router.delete("/{organisation_id}/alert-webhook", status_code=status.HTTP_204_NO_CONTENT)
def delete_alert_webhook(organisation_id: str, session: SessionDep, runtime: RuntimeDep, caller: CallerDep) -> Response:
    webhooks.set_webhook(session, runtime.webhook_targets, caller, organisation_id, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{organisation_id}/alert-webhook/deliveries", response_model=PageOut[DeliveryOut])
def list_webhook_deliveries(
    organisation_id: str,
    session: SessionDep,
    caller: CallerDep,
    limit: Limit,
    cursor: Cursor = None,
    state: DeliveryState | None = None,
) -> PageOut[DeliveryOut]:
    """Alerts sent (and being sent) to the webhook, oldest first; `state=failed`: those that failed every attempt."""
    page = webhooks.list_deliveries(session, caller, organisation_id, cursor, limit, state)
    return PageOut(items=[DeliveryOut.model_validate(d) for d in page.items], next_cursor=page.next_cursor)


@router.post(
    "/{organisation_id}/alert-webhook/deliveries/{delivery_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
)
def resend_webhook_delivery(
    organisation_id: str, delivery_id: str, session: SessionDep, deps: DependenciesDep, caller: CallerDep
) -> DeliveryOut:
    """A failed or cancelled delivery is sent again, with all its attempts, to the webhook as it is now."""
    return DeliveryOut.model_validate(
        webhooks.resend(session, deps.clock, deps.queue, caller, organisation_id, delivery_id)
    )
