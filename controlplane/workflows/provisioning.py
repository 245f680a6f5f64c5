"""Provisioning, change, repair and decommission of projects, run by workers.

Each step takes an id, reloads state and decides from the database what is
left to do, so a redelivered or repeated task is harmless. A project lease
keeps two workers off the same stack; the provisioner itself converges, so a
resumed operation never creates twice. Long calls run outside any transaction.

Every operation on a stack follows one template (`_operate`): lock the rows and
check what is left to do, check the provisioner is ready, take the lease, run
the provisioner with the lease kept alive, record the outcome and release the
lease in one transaction, observe the duration. The operations below only say
what differs: which rows, which provisioner call, what success and failure write.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from controlplane.capacity import lock_region, move
from controlplane.contract import ProgressCallback, ProgressEvent, TenantOutputs, TenantSpec
from controlplane.dependencies import ServiceDependencies
from controlplane.domain.states import ProjectState, RequestState
from controlplane.errors import ProvisionerUnavailable
from controlplane.observability.counters import PROVISIONING_DURATION
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Organisation, Project, QuotaRequest
from controlplane.ports import Provisioner
from controlplane.projects import credentials
from controlplane.projects.credentials import CredentialVault
from controlplane.projects.service import tenant_spec
from controlplane.quota_requests.lifecycle import record_progress, transition

log = logging.getLogger(__name__)
WORKER_ACTOR = "worker"


@dataclass(frozen=True)
class Claim:
    """What an operation took under its lease: ids to reload, the spec and the stored password."""

    project_id: str
    request_id: str
    spec: TenantSpec
    password: str | None


@dataclass(frozen=True)
class Operation:
    """The parts of one kind of operation that the template does not fix.

    - `claim`: with the rows locked, the project and request to work on, or why there is nothing to do;
    - `begin`: what changes when the work starts (a transition...) and the spec to run;
    - `run`: the provisioner call;
    - `succeeded` / `failed`: what the outcome writes (the template releases the lease) and its result.
    """

    metric: str  # the operation label of sahab_provisioning_duration_seconds
    claim: Callable[[Session], tuple[Project, QuotaRequest] | str]
    begin: Callable[[Session, Project, QuotaRequest], TenantSpec]
    run: Callable[[Claim, ProgressCallback], Any]
    succeeded: Callable[[Session, Project, Claim, Any], str]
    failed: Callable[[Session, Project, Claim, Exception], str]


def _message(error: Exception, prefix: str = "") -> str:
    return f"{prefix}{type(error).__name__}: {error}"[:4000]


class ProvisioningWorkflow:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        deps: ServiceDependencies,
        provisioner: Provisioner,
        *,
        worker_id: str,
        lease_seconds: float = 120,
        reconcile_grace_seconds: int = 60,
        vault: CredentialVault | None = None,
    ) -> None:
        """`vault` seals the project user's credentials when an operation ends (the API serves them
        from there); without one, nothing is stored (unit tests that do not read credentials)."""
        self.sessions = sessions
        self.deps = deps
        self.provisioner = provisioner
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        self.grace = timedelta(seconds=reconcile_grace_seconds)
        self.vault = vault

    # -- the template ----------------------------------------------------------
    def _operate(self, operation: Operation) -> str:
        with transaction(self.sessions) as session:
            claimed = operation.claim(session)
            if isinstance(claimed, str):
                return claimed
            project, request = claimed
            if not self._ready(request, project):
                return "waiting"
            if not self._take_lease(project):
                return "busy"
            spec = operation.begin(session, project, request)
            password = credentials.stored_password(session, self.vault, project.id) if self.vault else None
            claim = Claim(project.id, request.id, spec, password)

        started = time.monotonic()
        try:
            with self._keeping_lease(claim.project_id), self._recording_progress(claim.request_id) as progress:
                result = operation.run(claim, progress)
        except Exception as error:  # any failure is recorded on the rows, never lost
            log.warning("%s of %s failed: %s", operation.metric, claim.project_id, error)
            failure = error  # `error` is unbound once the except block ends; the callback keeps its own name
            outcome = self._finish(claim, lambda session, project: operation.failed(session, project, claim, failure))
            PROVISIONING_DURATION.labels(operation.metric, "failure").observe(time.monotonic() - started)
            return outcome
        outcome = self._finish(claim, lambda session, project: operation.succeeded(session, project, claim, result))
        PROVISIONING_DURATION.labels(operation.metric, "success").observe(time.monotonic() - started)
        return outcome

    def _finish(self, claim: Claim, record: Callable[[Session, Project], str]) -> str:
        with transaction(self.sessions) as session:
            # Request before project, in the order provisioning claims them.
            session.scalar(select(QuotaRequest).where(QuotaRequest.id == claim.request_id).with_for_update())
            project = self._locked_claimed_project(session, claim.project_id)
            outcome = record(session, project)
            self._release(project)
        return outcome

    def _store_credentials(self, session: Session, claim: Claim, outputs: TenantOutputs) -> None:
        if self.vault is not None:
            credentials.store(session, self.vault, self.deps.clock, claim.project_id, outputs, claim.spec.domain_id)

    # -- create and change -------------------------------------------------
    def provision(self, request_id: str) -> str:
        def claim(session: Session) -> tuple[Project, QuotaRequest] | str:
            request = session.scalar(select(QuotaRequest).where(QuotaRequest.id == request_id).with_for_update())
            if request is None:
                return "missing"
            if request.state not in (RequestState.APPROVED.value, RequestState.PROVISIONING.value):
                return f"nothing to do: {request.state}"
            return self._locked_claimed_project(session, request.project_id), request

        def begin(session: Session, project: Project, request: QuotaRequest) -> TenantSpec:
            if request.state == RequestState.APPROVED.value:
                self._transition(session, request, RequestState.PROVISIONING, "provisioning started")
            project.state = ProjectState.PROVISIONING.value
            return tenant_spec(session, self.deps, project, request)

        def succeeded(session: Session, project: Project, claim: Claim, outputs: TenantOutputs) -> str:
            request = session.get_one(QuotaRequest, claim.request_id)
            previous = session.scalars(
                select(QuotaRequest)
                .where(
                    QuotaRequest.project_id == project.id,
                    QuotaRequest.state == RequestState.ACTIVE.value,
                    QuotaRequest.id != request.id,
                )
                .with_for_update()
            )
            for old in previous:
                self._transition(session, old, RequestState.SUPERSEDED, f"superseded by {request.id}")
            self._transition(session, request, RequestState.ACTIVE, "provisioned")
            project.state = ProjectState.ACTIVE.value
            self._regrant(session, project, dict(request.amounts))  # a change now holds its new amounts only
            project.openstack_project_id = outputs.openstack_project_id
            project.outputs = {
                "user_name": outputs.user_name,
                "auth_url": outputs.auth_url,
                "region": outputs.region,
                "network_id": outputs.network_id,
                **outputs.extra,
            }
            project.last_error = None
            self._store_credentials(session, claim, outputs)
            return "active"

        def failed(session: Session, project: Project, claim: Claim, error: Exception) -> str:
            request = session.get_one(QuotaRequest, claim.request_id)
            message = _message(error)
            if request.state == RequestState.PROVISIONING.value:
                self._transition(session, request, RequestState.FAILED, message)
                project.state = ProjectState.FAILED.value
            project.last_error = message
            return "failed"

        return self._operate(
            Operation(
                "apply",
                claim,
                begin,
                lambda c, progress: self.provisioner.apply(c.spec, progress, c.password),
                succeeded,
                failed,
            )
        )

    # -- preview of a change, for the approver -------------------------------
    def preview(self, request_id: str) -> str:
        with transaction(self.sessions) as session:
            request = session.get(QuotaRequest, request_id)
            if request is None or request.state != RequestState.SUBMITTED.value or request.project_id is None:
                return "nothing to do"
            project = session.get_one(Project, request.project_id)
            if not self._ready(None, project):
                return "waiting"
            spec = tenant_spec(session, self.deps, project, request)
            password = credentials.stored_password(session, self.vault, project.id) if self.vault else None
        try:
            plan = self.provisioner.preview(spec, password)
        except Exception as error:  # a failed preview must not block the decision
            plan = {"error": f"{type(error).__name__}: {error}"[:2000]}
        with transaction(self.sessions) as session:
            request = session.get_one(QuotaRequest, request_id, with_for_update=True)
            request.preview = {**(request.preview or {}), "plan": plan}
        return "previewed"

    # -- decommission --------------------------------------------------------
    def decommission(self, project_id: str) -> str:
        def claim(session: Session) -> tuple[Project, QuotaRequest] | str:
            project = self._locked_project(session, project_id)
            if project is None or project.state != ProjectState.DECOMMISSIONING.value:
                return f"nothing to do: {project.state if project else 'missing'}"
            return project, session.get_one(QuotaRequest, project.current_request_id)

        def succeeded(session: Session, project: Project, claim: Claim, _: None) -> str:
            request = session.get_one(QuotaRequest, claim.request_id)
            self._transition(session, request, RequestState.DECOMMISSIONED, "project removed from the cloud")
            self._regrant(session, project, {})
            project.state = ProjectState.DECOMMISSIONED.value
            project.last_error = None
            credentials.forget(session, project.id)
            return "decommissioned"

        def failed(session: Session, project: Project, claim: Claim, error: Exception) -> str:
            project.last_error = _message(error)  # stays decommissioning: the reconciler tries again
            return "failed"

        return self._operate(
            Operation(
                "destroy",
                claim,
                lambda session, project, request: tenant_spec(session, self.deps, project, request),
                lambda c, progress: self.provisioner.destroy(c.spec, progress, c.password),
                succeeded,
                failed,
            )
        )

    # -- repair of quota drift ------------------------------------------------
    def reapply(self, project_id: str) -> str:
        """Re-apply an active project's stack with the quota Sahab granted. No request state
        changes: the run is recorded as progress on the current request, a failure on the project."""

        def claim(session: Session) -> tuple[Project, QuotaRequest] | str:
            project = self._locked_project(session, project_id)
            if project is None or project.state != ProjectState.ACTIVE.value or not project.current_request_id:
                return f"nothing to do: {project.state if project else 'missing'}"
            request = session.get_one(QuotaRequest, project.current_request_id)
            if request.state != RequestState.ACTIVE.value:
                return f"nothing to do: request {request.state}"
            return project, request

        def begin(session: Session, project: Project, request: QuotaRequest) -> TenantSpec:
            record_progress(
                session, self.deps.clock, request.id, "repair: re-applying the granted quota", {"operation": "repair"}
            )
            return tenant_spec(session, self.deps, project)  # the granted quota, not a request's amounts

        def succeeded(session: Session, project: Project, claim: Claim, outputs: TenantOutputs) -> str:
            project.last_error = None
            self._store_credentials(session, claim, outputs)
            record_progress(
                session, self.deps.clock, claim.request_id, "repair: granted quota re-applied", {"operation": "repair"}
            )
            return "repaired"

        def failed(session: Session, project: Project, claim: Claim, error: Exception) -> str:
            project.last_error = _message(error, "repair failed: ")
            record_progress(session, self.deps.clock, claim.request_id, project.last_error, {"operation": "repair"})
            return "failed"

        return self._operate(
            Operation(
                "repair",
                claim,
                begin,
                # Refreshed first: the drift being repaired was made on the cloud, the state does not know it.
                lambda c, progress: self.provisioner.apply(c.spec, progress, c.password, refresh=True),
                succeeded,
                failed,
            )
        )

    # -- credentials of a project provisioned before they were stored ----------
    def capture_credentials(self, project_id: str) -> str:
        """Read the stack's outputs once and seal them (the API queues this on first demand)."""

        def claim(session: Session) -> tuple[Project, QuotaRequest] | str:
            project = self._locked_project(session, project_id)
            if project is None or project.state != ProjectState.ACTIVE.value or not project.current_request_id:
                return f"nothing to do: {project.state if project else 'missing'}"
            if self.vault is None or credentials.read(session, self.vault, project.id) is not None:
                return "nothing to do: stored"
            return project, session.get_one(QuotaRequest, project.current_request_id)

        def succeeded(session: Session, project: Project, claim: Claim, outputs: TenantOutputs | None) -> str:
            if outputs is None:
                log.warning(
                    "project %s is active but its stack has no outputs; credentials cannot be captured", project.id
                )
                return "no outputs"
            self._store_credentials(session, claim, outputs)
            return "captured"

        return self._operate(
            Operation(
                "capture",
                claim,
                lambda session, project, request: tenant_spec(session, self.deps, project),
                lambda c, _progress: self.provisioner.outputs(c.spec),
                succeeded,
                lambda *_: "failed",
            )
        )

    # -- reconcile: find work in the database that no queued task carries ----
    def reconcile(self) -> dict[str, list[str]]:
        now = self.deps.clock.now()
        lease_free = or_(Project.lease_until.is_(None), Project.lease_until < now)
        with transaction(self.sessions) as session:
            to_provision = list(
                session.scalars(
                    select(QuotaRequest.id)
                    .join(Project, Project.id == QuotaRequest.project_id)
                    .where(
                        QuotaRequest.state.in_([RequestState.APPROVED.value, RequestState.PROVISIONING.value]),
                        QuotaRequest.updated_at < now - self.grace,
                        lease_free,
                    )
                )
            )
            to_decommission = list(
                session.scalars(
                    select(Project.id).where(
                        Project.state == ProjectState.DECOMMISSIONING.value,
                        Project.updated_at < now - self.grace,
                        lease_free,
                    )
                )
            )
        for request_id in to_provision:
            self.deps.queue.provision(request_id)
        for project_id in to_decommission:
            self.deps.queue.decommission(project_id)
        return {"provision": to_provision, "decommission": to_decommission}

    # -- helpers -------------------------------------------------------------
    def _locked_project(self, session: Session, project_id: str | None) -> Project | None:
        return session.scalar(select(Project).where(Project.id == project_id).with_for_update())

    def _locked_claimed_project(self, session: Session, project_id: str | None) -> Project:
        """The project of a claimed request: it exists (admission created it with the request)."""
        return session.scalars(select(Project).where(Project.id == project_id).with_for_update()).one()

    def _ready(self, request: QuotaRequest | None, project: Project) -> bool:
        try:
            self.provisioner.check_available()
        except ProvisionerUnavailable as unavailable:
            reason = f"waiting for provisioning: {unavailable.detail}"
            if request is not None and request.state == RequestState.APPROVED.value:
                request.reason = reason
            project.last_error = reason
            project.updated_at = self.deps.clock.now()
            return False
        return True

    def _take_lease(self, project: Project) -> bool:
        now = self.deps.clock.now()
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
                            .values(lease_until=self.deps.clock.now() + self.lease)
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
        move(session, lock_region(session, project.region_id), kind, before, granted, project.programme_id)

    def _release(self, project: Project) -> None:
        project.lease_owner = None
        project.lease_until = None
        project.updated_at = self.deps.clock.now()

    def _transition(self, session: Session, request: QuotaRequest, target: RequestState, reason: str) -> None:
        kind = session.get_one(Organisation, request.organisation_id).kind
        transition(session, self.deps.clock, request, target, actor=WORKER_ACTOR, organisation_kind=kind, reason=reason)

    @contextmanager
    def _recording_progress(self, request_id: str) -> Iterator[ProgressCallback]:
        """A progress callback that never makes the engine wait for the database: events are queued
        and written by a thread, as many per transaction as have arrived, all of them before the
        operation's outcome is recorded."""
        pending: queue.SimpleQueue[ProgressEvent | None] = queue.SimpleQueue()

        def write() -> None:
            finished = False
            while not finished:
                batch = [pending.get()]
                while True:
                    try:
                        batch.append(pending.get_nowait())
                    except queue.Empty:
                        break
                finished = batch[-1] is None
                events = [event for event in batch if event is not None]
                if not events:
                    continue
                try:
                    with transaction(self.sessions) as session:
                        for event in events:
                            detail = {
                                k: v
                                for k, v in {
                                    "resource_type": event.resource_type,
                                    "resource_name": event.resource_name,
                                    "operation": event.operation,
                                }.items()
                                if v
                            }
                            record_progress(session, self.deps.clock, request_id, event.message, detail or None)
                except Exception:  # progress is for people; the outcome is recorded either way
                    log.warning("could not record %d progress events of %s", len(events), request_id, exc_info=True)

        writer = threading.Thread(target=write, name=f"progress-{request_id}", daemon=True)
        writer.start()
        try:
            yield pending.put
        finally:
            pending.put(None)
            writer.join()
