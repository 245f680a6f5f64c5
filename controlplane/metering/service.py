"""API-facing operations of metering: drift listing, repair requests, the alert webhook."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.access import require_organisation, require_role
from controlplane.core import Core
from controlplane.domain.principal import Principal
from controlplane.domain.states import PlatformRole, ProjectState
from controlplane.errors import Conflict, InvalidInput
from controlplane.persistence.database import after_commit
from controlplane.persistence.models import Project, ProjectMetering
from controlplane.projects import service as projects
from controlplane.quota_requests.lifecycle import record_progress


def list_drift(session: Session, principal: Principal, *, organisation_id: str | None = None,
               region: str | None = None) -> list[dict[str, Any]]:
    """Staff see every organisation's drift; members only their organisations' (others: 404)."""
    if organisation_id and not principal.is_staff:
        require_organisation(session, principal, organisation_id)
    statement = select(Project, ProjectMetering).join(ProjectMetering, ProjectMetering.project_id == Project.id).where(
        Project.state == ProjectState.ACTIVE.value)
    statement = projects.visible(session, principal, statement, organisation_id=organisation_id, region=region)
    found = []
    for project, metering in session.execute(statement.order_by(Project.region_id, Project.id)):
        for item in metering.drift or []:
            found.append({"project_id": project.id, "organisation_id": project.organisation_id,
                          "region_id": project.region_id, "environment": project.environment,
                          "openstack_project_id": project.openstack_project_id,
                          "measured_at": metering.measured_at, **item})
    return found


def request_repair(session: Session, core: Core, principal: Principal, project_id: str) -> Project:
    """Operators: queue a re-application of the project's granted quota (the provisioning path)."""
    require_role(principal, PlatformRole.OPERATOR)
    project = projects.get(session, principal, project_id, for_update=True)
    if project.state != ProjectState.ACTIVE.value or not project.current_request_id:
        raise Conflict(f"project {project.id} is {project.state}; only an active project can be repaired")
    record_progress(session, core.clock, project.current_request_id, f"repair requested by {principal.subject}",
                    {"operation": "repair"}, actor=principal.subject)
    session.flush()
    after_commit(session, lambda: core.queue.repair(project_id))
    return project


def set_alert_webhook(session: Session, principal: Principal, organisation_id: str, url: str | None) -> dict[str, Any]:
    """Organisation admins: set (new secret, shown once) or remove (url None) the usage alert webhook."""
    organisation = require_organisation(session, principal, organisation_id, admin=True,
                                                      operator_override=False)
    if url is None:
        organisation.alert_webhook_url = organisation.alert_webhook_secret = None
        return {"organisation_id": organisation.id, "url": None, "secret": None}
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise InvalidInput(f"url must be an absolute http(s) URL, got {url!r}")
    organisation.alert_webhook_url = url
    organisation.alert_webhook_secret = secrets.token_urlsafe(32)
    return {"organisation_id": organisation.id, "url": url, "secret": organisation.alert_webhook_secret,
            "signature": "X-Sahab-Signature: sha256=HMAC-SHA256(secret, '<X-Sahab-Timestamp>.<body>')"}


def get_alert_webhook(session: Session, principal: Principal, organisation_id: str) -> dict[str, Any]:
    organisation = require_organisation(session, principal, organisation_id, admin=True, operator_override=False)
    return {"organisation_id": organisation.id, "url": organisation.alert_webhook_url, "secret": None}
