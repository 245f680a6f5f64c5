"""Provisioning, change and decommission of projects, run by workers.

Each step takes an id, reloads state and decides from the database what is
left to do, so a redelivered or repeated task is harmless. A project lease
keeps two workers off the same stack; the provisioner itself converges, so a
resumed operation never creates twice. Long calls run outside any transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from controlplane.capacity import lock_region, move
from controlplane.contract import ProgressEvent, TenantOutputs
from controlplane.core import Core
from controlplane.domain.states import ProjectState, RequestState
from controlplane.errors import ProvisionerUnavailable
from controlplane.metrics import PROVISIONING_DURATION
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Organisation, Project, QuotaRequest
from controlplane.projects.service import tenant_spec
from controlplane.provisioning.protocol import Provisioner
from controlplane.quota_requests.lifecycle import record_progress, transition

log = logging.getLogger(__name__)
WORKER_ACTOR = "worker"


class ProvisioningWorkflow:
    def __init__(
        self, sessions: sessionmaker[Session], core: Core, provisioner: Provisioner, *,
        worker_id: str, lease_seconds: float = 120, reconcile_grace_seconds: int = 60,
    ) -> None:
        self.sessions = sessions
        self.core = core
        self.provisioner = provisioner
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        self.grace = timedelta(seconds=reconcile_grace_seconds)

    # -- create and change -------------------------------------------------
    def provision(self, request_id: str) -> str:
        with transaction(self.sessions) as session:
            request = session.scalar(select(QuotaRequest).where(QuotaRequest.id == request_id).with_for_update())
            if request is None:
                return "missing"
            state = RequestState(request.state)
            if state not in (RequestState.APPROVED, RequestState.PROVISIONING):
                return f"nothing to do: {state.value}"
            project = self._locked_project(session, request.project_id)
            if not self._ready(request, project):
                return "waiting"
            if not self._take_lease(project):
                return "busy"
            if state is RequestState.APPROVED:
                self._transition(session, request, RequestState.PROVISIONING, "provisioning started")
            project.state = ProjectState.PROVISIONING.value
            spec = tenant_spec(session, self.core, project, request)

        started = time.monotonic()
        try:
            with self._keeping_lease(spec.project_id):
                outputs = self.provisioner.apply(spec, self._progress(request_id))
        except Exception as error:  # any failure is recorded on the rows, never lost
            log.warning("provisioning %s failed: %s", request_id, error)
            self._fail(request_id, error)
            PROVISIONING_DURATION.labels("apply", "failure").observe(time.monotonic() - started)
            return "failed"
        self._succeed(request_id, outputs)
        PROVISIONING_DURATION.labels("apply", "success").observe(time.monotonic() - started)
        return "active"

    def _succeed(self, request_id: str, outputs: TenantOutputs) -> None:
        with transaction(self.sessions) as session:
            request = session.get_one(QuotaRequest, request_id, with_for_update=True)
            project = self._locked_project(session, request.project_id)
            previous = session.scalars(select(QuotaRequest).where(
                QuotaRequest.project_id == project.id, QuotaRequest.state == RequestState.ACTIVE.value,
                QuotaRequest.id != request.id,
            ).with_for_update())
            for old in previous:
                self._transition(session, old, RequestState.SUPERSEDED, f"superseded by {request.id}")
            self._transition(session, request, RequestState.ACTIVE, "provisioned")
            project.state = ProjectState.ACTIVE.value
            self._regrant(session, project, dict(request.amounts))  # a change now holds its new amounts only
            project.openstack_project_id = outputs.openstack_project_id
            project.outputs = {
                "user_name": outputs.user_name, "auth_url": outputs.auth_url, "region": outputs.region,
                "network_id": outputs.network_id, **outputs.extra,
            }
            project.last_error = None
            self._release(project)

    def _fail(self, request_id: str, error: Exception) -> None:
        message = f"{type(error).__name__}: {error}"[:4000]
        with transaction(self.sessions) as session:
            request = session.get_one(QuotaRequest, request_id, with_for_update=True)
            project = self._locked_project(session, request.project_id)
            if request.state == RequestState.PROVISIONING.value:
                self._transition(session, request, RequestState.FAILED, message)
                project.state = ProjectState.FAILED.value
            project.last_error = message
            self._release(project)

    # -- preview of a change, for the approver -------------------------------
    def preview(self, request_id: str) -> str:
        with transaction(self.sessions) as session:
            request = session.get(QuotaRequest, request_id)
            if request is None or request.state != RequestState.SUBMITTED.value or request.project_id is None:
                return "nothing to do"
            project = session.get_one(Project, request.project_id)
            if not self._ready(None, project):
                return "waiting"
            spec = tenant_spec(session, self.core, project, request)
        try:
            plan = self.provisioner.preview(spec)
        except Exception as error:  # a failed preview must not block the decision
            plan = {"error": f"{type(error).__name__}: {error}"[:2000]}
        with transaction(self.sessions) as session:
            request = session.get_one(QuotaRequest, request_id, with_for_update=True)
            request.preview = {**(request.preview or {}), "plan": plan}
        return "previewed"

    # -- decommission --------------------------------------------------------
    def decommission(self, project_id: str) -> str:
        with transaction(self.sessions) as session:
            project = self._locked_project(session, project_id)
            if project.state != ProjectState.DECOMMISSIONING.value:
                return f"nothing to do: {project.state}"
            request = session.get_one(QuotaRequest, project.current_request_id)
            if not self._ready(None, project):
                return "waiting"
            if not self._take_lease(project):
                return "busy"
            spec = tenant_spec(session, self.core, project, request)
            request_id = request.id

        started = time.monotonic()
        try:
            with self._keeping_lease(project_id):
                self.provisioner.destroy(spec, self._progress(request_id))
        except Exception as error:
            log.warning("decommissioning %s failed: %s", project_id, error)
            with transaction(self.sessions) as session:
                project = self._locked_project(session, project_id)
                # Stays decommissioning: the reconciler tries again.
                project.last_error = f"{type(error).__name__}: {error}"[:4000]
                self._release(project)
            PROVISIONING_DURATION.labels("destroy", "failure").observe(time.monotonic() - started)
            return "failed"
        with transaction(self.sessions) as session:
            project = self._locked_project(session, project_id)
            request = session.get_one(QuotaRequest, request_id, with_for_update=True)
            self._transition(session, request, RequestState.DECOMMISSIONED, "project removed from the cloud")
            self._regrant(session, project, {})
            project.state = ProjectState.DECOMMISSIONED.value
            project.last_error = None
            self._release(project)
        PROVISIONING_DURATION.labels("destroy", "success").observe(time.monotonic() - started)
        return "decommissioned"

    # -- repair of quota drift ------------------------------------------------
    def reapply(self, project_id: str) -> str:
        """Re-apply an active project's stack with the quota Sahab granted. No request state
        changes: the run is recorded as progress on the current request, a failure on the project."""
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
            with self._keeping_lease(project_id):
                self.provisioner.apply(spec, self._progress(request_id))
        except Exception as error:
            message = f"repair failed: {type(error).__name__}: {error}"[:4000]
            log.warning("repair of %s failed: %s", project_id, error)
            self._record_repair(project_id, request_id, message, error=message)
            PROVISIONING_DURATION.labels("repair", "failure").observe(time.monotonic() - started)
            return "failed"
        self._record_repair(project_id, request_id, "repair: granted quota re-applied", error=None)
        PROVISIONING_DURATION.labels("repair", "success").observe(time.monotonic() - started)
        return "repaired"

    def _record_repair(self, project_id: str, request_id: str, message: str, error: str | None) -> None:
        with transaction(self.sessions) as session:
            project = self._locked_project(session, project_id)
            project.last_error = error
            self._release(project)
            record_progress(session, self.core.clock, request_id, message, {"operation": "repair"})

    # -- reconcile: find work in the database that no queued task carries ----
    def reconcile(self) -> dict[str, list[str]]:
        now = self.core.clock.now()
        lease_free = or_(Project.lease_until.is_(None), Project.lease_until < now)
        with transaction(self.sessions) as session:
            to_provision = list(session.scalars(
                select(QuotaRequest.id).join(Project, Project.id == QuotaRequest.project_id).where(
                    QuotaRequest.state.in_([RequestState.APPROVED.value, RequestState.PROVISIONING.value]),
                    QuotaRequest.updated_at < now - self.grace, lease_free,
                )
            ))
            to_decommission = list(session.scalars(
                select(Project.id).where(
                    Project.state == ProjectState.DECOMMISSIONING.value, Project.updated_at < now - self.grace, lease_free,
                )
            ))
        for request_id in to_provision:
            self.core.queue.provision(request_id)
        for project_id in to_decommission:
            self.core.queue.decommission(project_id)
        return {"provision": to_provision, "decommission": to_decommission}

    # -- helpers -------------------------------------------------------------
    def _locked_project(self, session: Session, project_id: str | None) -> Project:
        return session.scalar(select(Project).where(Project.id == project_id).with_for_update())

    def _ready(self, request: QuotaRequest | None, project: Project) -> bool:
        try:
            self.provisioner.check_available()
        except ProvisionerUnavailable as unavailable:
            reason = f"waiting for provisioning: {unavailable.detail}"
            if request is not None and request.state == RequestState.APPROVED.value:
                request.reason = reason
            project.last_error = reason
            project.updated_at = self.core.clock.now()
            return False
        return True

    def _take_lease(self, project: Project) -> bool:
        now = self.core.clock.now()
        held_by_other = project.lease_owner not in (None, self.worker_id)
        if held_by_other and project.lease_until is not None and project.lease_until > now:
            return False
        project.lease_owner = self.worker_id
        project.lease_until = now + self.lease
        project.updated_at = now
        return True

    @contextmanager
    def _keeping_lease(self, project_id: str) -> Iterator[None]:
        """Renew the lease while a long operation runs, so it can be short: a worker that
        dies stops renewing and another takes the stack over soon after."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.lease.total_seconds() / 3):
                try:
                    with transaction(self.sessions) as session:
                        session.execute(
                            update(Project)
                            .where(Project.id == project_id, Project.lease_owner == self.worker_id)
                            .values(lease_until=self.core.clock.now() + self.lease)
                        )
                except Exception:  # a missed renewal is retried; the lease is long enough for a few
                    log.warning("could not renew the lease of %s", project_id, exc_info=True)

        keeper = threading.Thread(target=renew, name=f"lease-{project_id}", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            stop.set()
            keeper.join()

    def _regrant(self, session: Session, project: Project, granted: dict[str, int]) -> None:
        """Set the project's grant and its region's running totals; the region is locked only
        when the grant really changes (a create that became active holds what it was granted)."""
        if project.granted == granted:
            return
        kind = session.get_one(Organisation, project.organisation_id).kind
        before, project.granted = project.granted, granted
        move(session, lock_region(session, project.region_id), kind, before, granted)

    def _release(self, project: Project) -> None:
        project.lease_owner = None
        project.lease_until = None
        project.updated_at = self.core.clock.now()

    def _transition(self, session: Session, request: QuotaRequest, target: RequestState, reason: str) -> None:
        kind = session.get_one(Organisation, request.organisation_id).kind
        transition(session, self.core.clock, request, target, actor=WORKER_ACTOR, organisation_kind=kind, reason=reason)

    def _progress(self, request_id: str):  # type: ignore[no-untyped-def]
        def report(event: ProgressEvent) -> None:
            detail = {k: v for k, v in {
                "resource_type": event.resource_type, "resource_name": event.resource_name, "operation": event.operation,
            }.items() if v}
            with transaction(self.sessions) as session:
                record_progress(session, self.core.clock, request_id, event.message, detail or None)
        return report
