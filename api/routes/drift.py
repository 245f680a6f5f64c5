"""Drift between Sahab's grants and the clouds (from the last metering collection), and the
organisation's usage-alert webhook (set by its admins)."""

from __future__ import annotations

from fastapi import Response

from api.deps import CallerDep, SessionDep
from api.routes.common import authenticated_router
from controlplane.metering import service
from controlplane.metering.schemas import DriftOut, WebhookIn, WebhookOut

router = authenticated_router(tags=["metering"])


@router.get("/v1/drift", response_model=list[DriftOut])
def drift(session: SessionDep, caller: CallerDep, organisation_id: str | None = None, region: str | None = None) -> list[DriftOut]:
    """Quota changed outside Sahab, usage above quota, project missing on the cloud. Staff see every
    organisation; members see their organisations' projects only."""
    return [DriftOut.model_validate(item) for item in service.list_drift(session, caller, organisation_id=organisation_id, region=region)]


@router.get("/v1/organisations/{organisation_id}/alert-webhook", response_model=WebhookOut)
def get_alert_webhook(organisation_id: str, session: SessionDep, caller: CallerDep) -> WebhookOut:
    return WebhookOut.model_validate(service.get_alert_webhook(session, caller, organisation_id))


@router.put("/v1/organisations/{organisation_id}/alert-webhook", response_model=WebhookOut)
def set_alert_webhook(organisation_id: str, data: WebhookIn, session: SessionDep, caller: CallerDep) -> WebhookOut:
    """Organisation admins: where usage alerts (80 % and 90 % of a quota) are POSTed. A new signing
    secret is made and shown once: X-Sahab-Signature = sha256=HMAC-SHA256(secret, '<X-Sahab-Timestamp>.<body>')."""
    return WebhookOut.model_validate(service.set_alert_webhook(session, caller, organisation_id, str(data.url)))


@router.delete("/v1/organisations/{organisation_id}/alert-webhook", status_code=204)
def delete_alert_webhook(organisation_id: str, session: SessionDep, caller: CallerDep) -> Response:
    service.set_alert_webhook(session, caller, organisation_id, None)
    return Response(status_code=204)
