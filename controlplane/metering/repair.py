"""Repairing quota drift: re-apply the project's stack with the quota Sahab granted.

No new request state is invented: the project's current (active) request stays active, the
re-application is recorded on it as progress events, and a failure is recorded on the project
(last_error) without touching the request's state."""

from __future__ import annotations

import logging
import time

from controlplane.domain.states import ProjectState, RequestState
from controlplane.metrics import PROVISIONING_DURATION
from controlplane.persistence.database import transaction
from controlplane.persistence.models import QuotaRequest
from controlplane.projects.service import tenant_spec
from controlplane.quota_requests.lifecycle import record_progress
from controlplane.workflows.provisioning import ProvisioningWorkflow

log = logging.getLogger(__name__)


class RepairWorkflow(ProvisioningWorkflow):
    def reapply(self, project_id: str) -> str:
        with transaction(self.sessions) as session:
            project = self._locked_project(session, project_id)
            if project is None or project.state != ProjectState.ACTIVE.value or not project.current_request_id:
                return f"nothing to do: {project.state if project else 'missing'}"
            request = session.get_one(QuotaRequest, project.current_request_id)
            if request.state != RequestState.ACTIVE.value:
                return f"nothing to do: request {request.state}"
            if not self._ready(None, project):
                return "waiting"
            if not self._take_lease(project):
                return "busy"
            spec = tenant_spec(session, self.core, project)  # the granted quota, not a request's amounts
            request_id = request.id
            record_progress(session, self.core.clock, request_id, "repair: re-applying the granted quota",
                            {"operation": "repair"})

        started = time.monotonic()
        try:
            self.provisioner.apply(spec, self._progress(request_id))
        except Exception as error:
            message = f"repair failed: {type(error).__name__}: {error}"[:4000]
            log.warning("repair of %s failed: %s", project_id, error)
            with transaction(self.sessions) as session:
                project = self._locked_project(session, project_id)
                project.last_error = message
                self._release(project)
                record_progress(session, self.core.clock, request_id, message, {"operation": "repair"})
            PROVISIONING_DURATION.labels("repair", "failure").observe(time.monotonic() - started)
            return "failed"
        with transaction(self.sessions) as session:
            project = self._locked_project(session, project_id)
            project.last_error = None
            self._release(project)
            record_progress(session, self.core.clock, request_id, "repair: granted quota re-applied", {"operation": "repair"})
        PROVISIONING_DURATION.labels("repair", "success").observe(time.monotonic() - started)
        return "repaired"
