"""The provisioning workflow with the in-memory provisioner (a unit-test fake)."""

from __future__ import annotations

import pytest

from controlplane.domain.states import ProjectState
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Project, QuotaRequest
from controlplane.projects import service as projects
from controlplane.provisioning.unavailable import UnavailableProvisioner
from controlplane.quota_requests import service
from controlplane.quota_requests.schemas import QuotaRequestCreate
from controlplane.workflows.provisioning import ProvisioningWorkflow
from tests import factories
from tests.support.fakes import InMemoryProvisioner


@pytest.fixture
def provisioner() -> InMemoryProvisioner:
    return InMemoryProvisioner()


@pytest.fixture
def workflow(sessions, deps, provisioner) -> ProvisioningWorkflow:
    return ProvisioningWorkflow(
        sessions, deps, provisioner, worker_id="worker-a", lease_seconds=600, reconcile_grace_seconds=60
    )


def approved_request(sessions, deps, env: str = "prod", preset: str = "small") -> QuotaRequest:
    with transaction(sessions) as session:
        org = factories.organisation(session)
        return service.create(
            session,
            deps,
            factories.person(),
            QuotaRequestCreate(
                organisation_id=org.id, region="rabat-1", environment=env, preset=preset, justification="workflow test"
            ),
        )


def states(sessions, request_id: str) -> tuple[str, str]:
    with transaction(sessions) as session:
        request = session.get_one(QuotaRequest, request_id)
        return request.state, session.get_one(Project, request.project_id).state


def test_approved_request_becomes_active(sessions, deps, workflow, provisioner):
    request = approved_request(sessions, deps)
    assert workflow.provision(request.id) == "active"
    assert states(sessions, request.id) == ("active", "active")
    with transaction(sessions) as session:
        events = service.events(session, factories.approver(), request.id)
        project = session.get_one(Project, request.project_id)
    assert [e.to_state for e in events] == ["submitted", "approved", "provisioning", None, "active"]
    assert events[3].reason == "keystone project created"
    assert project.openstack_project_id == f"os-{project.id}" and project.lease_owner is None


def test_redelivered_task_does_not_provision_twice(sessions, deps, workflow, provisioner):
    request = approved_request(sessions, deps)
    workflow.provision(request.id)
    assert workflow.provision(request.id) == "nothing to do: active"
    assert provisioner.applies == [request.project_id]


def test_another_workers_lease_keeps_a_second_worker_off_the_stack(sessions, deps, workflow, provisioner, clock):
    request = approved_request(sessions, deps)
    with transaction(sessions) as session:
        project = session.get_one(Project, request.project_id)
        project.lease_owner, project.lease_until = "worker-b", clock.now().replace(year=2027)
    assert workflow.provision(request.id) == "busy"
    assert provisioner.applies == []


def test_failure_is_recorded_and_retry_completes(sessions, deps, workflow, provisioner, queue):
    request = approved_request(sessions, deps)
    provisioner.fail_next = "keystone answered 500"
    assert workflow.provision(request.id) == "failed"
    assert states(sessions, request.id) == ("failed", "failed")
    with transaction(sessions) as session:
        assert "keystone answered 500" in session.get_one(Project, request.project_id).last_error
        service.retry(session, deps, factories.person(), request.id)
    assert queue.provisioned[-1] == request.id
    assert workflow.provision(request.id) == "active"


def test_unavailable_provisioner_leaves_request_approved_with_the_reason(sessions, deps):
    request = approved_request(sessions, deps)
    workflow = ProvisioningWorkflow(sessions, deps, UnavailableProvisioner(), worker_id="w")
    assert workflow.provision(request.id) == "waiting"
    with transaction(sessions) as session:
        stored = session.get_one(QuotaRequest, request.id)
        assert stored.state == "approved"
        assert stored.reason.startswith("waiting for provisioning: no provisioner is configured")


def test_change_supersedes_the_active_request_and_updates_the_grant(sessions, deps, workflow):
    request = approved_request(sessions, deps)
    workflow.provision(request.id)
    with transaction(sessions) as session:
        change = service.create(
            session,
            deps,
            factories.person(),
            QuotaRequestCreate(
                organisation_id=request.organisation_id,
                region="rabat-1",
                environment="prod",
                preset="small",
                amounts={"vcpus": 2},
                justification="smaller",
            ),
        )
    assert change.kind == "change" and change.state == "approved"
    assert workflow.provision(change.id) == "active"
    with transaction(sessions) as session:
        assert session.get_one(QuotaRequest, request.id).state == "superseded"
        assert session.get_one(Project, request.project_id).granted["vcpus"] == 2


def test_decommission_releases_the_grant(sessions, deps, workflow, provisioner, queue):
    request = approved_request(sessions, deps)
    workflow.provision(request.id)
    with transaction(sessions) as session:
        projects.decommission(session, deps, factories.person(), request.project_id, None)
    assert queue.decommissioned == [request.project_id]
    assert workflow.decommission(request.project_id) == "decommissioned"
    assert states(sessions, request.id) == ("decommissioned", "decommissioned")
    with transaction(sessions) as session:
        assert session.get_one(Project, request.project_id).granted == {}
    assert provisioner.tenants == {}


def test_reconcile_finds_work_no_task_carries(sessions, deps, workflow, queue, clock):
    request = approved_request(sessions, deps)
    queue.provisioned.clear()  # as if the message was lost
    assert workflow.reconcile() == {"provision": [], "decommission": []}  # within the grace period
    clock.advance(minutes=2)
    assert workflow.reconcile() == {"provision": [request.id], "decommission": []}
    assert queue.provisioned == [request.id]


def test_expired_lease_of_a_dead_worker_is_taken_over(sessions, deps, workflow, clock):
    request = approved_request(sessions, deps)
    with transaction(sessions) as session:
        project = session.get_one(Project, request.project_id)
        project.lease_owner, project.lease_until = "dead-worker", clock.now()
        project.state = ProjectState.PROVISIONING.value
    clock.advance(seconds=1)
    assert workflow.provision(request.id) == "active"


def test_only_a_failed_request_can_be_retried(sessions, deps):
    from controlplane.errors import InvalidTransition

    request = approved_request(sessions, deps)
    with pytest.raises(InvalidTransition, match="only a failed request can be retried"):
        with transaction(sessions) as session:
            service.retry(session, deps, factories.person(), request.id)
    assert states(sessions, request.id) == ("approved", "pending")


def test_change_waiting_for_an_approver_is_previewed(sessions, deps, workflow, queue):
    request = approved_request(sessions, deps)
    workflow.provision(request.id)
    with transaction(sessions) as session:
        change = service.create(
            session,
            deps,
            factories.person(),
            QuotaRequestCreate(
                organisation_id=request.organisation_id,
                region="rabat-1",
                environment="prod",
                preset="medium",
                justification="growing",
            ),
        )
    assert change.state == "submitted"
    assert change.preview["quota"]["vcpus"] == {"from": 4, "to": 16}
    assert queue.previewed == [change.id]
    assert workflow.preview(change.id) == "previewed"
    with transaction(sessions) as session:
        stored = session.get_one(QuotaRequest, change.id)
    assert stored.preview["plan"] == {"changes": {"update": 1}}
    assert stored.preview["quota"]["ram_mib"] == {"from": 8192, "to": 32768}


def test_decommission_is_refused_while_servers_or_volumes_remain(sessions, deps, workflow, clock):
    from controlplane.errors import Conflict

    request = approved_request(sessions, deps)
    workflow.provision(request.id)
    with transaction(sessions) as session:
        project = session.get_one(Project, request.project_id)
        project.last_usage, project.last_usage_at = {"instances": 2, "volumes": 1, "vcpus": 2}, clock.now()
    with pytest.raises(Conflict, match="still has 2 instances, 1 volumes"):
        with transaction(sessions) as session:
            projects.decommission(session, deps, factories.person(), request.project_id, None)
    assert states(sessions, request.id) == ("active", "active")


def test_decommission_is_refused_while_the_object_store_holds_data_unless_an_operator_forces_it(
    sessions, deps, workflow, clock
):
    from controlplane.errors import Conflict, PermissionDenied

    request = approved_request(sessions, deps)
    workflow.provision(request.id)
    with transaction(sessions) as session:
        project = session.get_one(Project, request.project_id)
        project.last_usage, project.last_usage_at = {"object_gib": 3}, clock.now()
    with pytest.raises(Conflict, match=r"object storage account still holds data \(3 GiB"):
        with transaction(sessions) as session:
            projects.decommission(session, deps, factories.person(), request.project_id, None)
    with pytest.raises(PermissionDenied, match="only an operator"):
        with transaction(sessions) as session:
            projects.decommission(session, deps, factories.person(), request.project_id, None, force=True)
    assert states(sessions, request.id) == ("active", "active")
    with transaction(sessions) as session:
        projects.decommission(session, deps, factories.operator(), request.project_id, "forced", force=True)
    assert states(sessions, request.id)[0] == "decommissioning"


def test_the_lease_is_renewed_while_a_long_apply_runs(sessions, deps, provisioner, clock):
    import time as wall

    request = approved_request(sessions, deps)
    seen = []
    original_apply = provisioner.apply

    def slow_apply(spec, progress, password=None):
        with transaction(sessions) as session:
            seen.append(session.get_one(Project, spec.project_id).lease_until)
        clock.advance(seconds=100)
        wall.sleep(0.5)  # several renewal periods of a 0.3 s lease
        with transaction(sessions) as session:
            seen.append(session.get_one(Project, spec.project_id).lease_until)
        return original_apply(spec, progress, password)

    provisioner.apply = slow_apply
    workflow = ProvisioningWorkflow(sessions, deps, provisioner, worker_id="worker-a", lease_seconds=0.3)
    assert workflow.provision(request.id) == "active"
    assert seen[1] >= seen[0] + __import__("datetime").timedelta(seconds=100)


def test_credentials_are_sealed_at_the_end_kept_across_changes_and_forgotten_at_decommission(
    sessions, deps, provisioner, tmp_path
):
    from cryptography.fernet import Fernet

    from controlplane.persistence.models import ProjectCredentials
    from controlplane.projects import credentials
    from controlplane.projects.credentials import CredentialVault

    vault = CredentialVault([Fernet.generate_key().decode()])
    workflow = ProvisioningWorkflow(sessions, deps, provisioner, worker_id="w", vault=vault)
    request = approved_request(sessions, deps)
    assert workflow.provision(request.id) == "active"
    password = provisioner.passwords[request.project_id]
    with transaction(sessions) as session:
        entry = credentials.read(session, vault, request.project_id)
    assert entry["auth"] == {
        "auth_url": "http://keystone.invalid/v3",
        "username": entry["auth"]["username"],
        "password": password,
        "project_id": f"os-{request.project_id}",
        "user_domain_id": "default",
    }

    given = []
    original_apply = provisioner.apply

    def remembering_apply(spec, progress, password=None, refresh=False):
        given.append((password, refresh))
        return original_apply(spec, progress, password, refresh)

    provisioner.apply = remembering_apply
    with transaction(sessions) as session:
        change = service.create(
            session,
            deps,
            factories.person(),
            QuotaRequestCreate(
                organisation_id=request.organisation_id,
                region="rabat-1",
                environment="prod",
                preset="small",
                amounts={"vcpus": 2},
                justification="smaller",
            ),
        )
    assert workflow.provision(change.id) == "active"
    assert workflow.reapply(request.project_id) == "repaired"
    # The stored password is the one every later run keeps; a repair reads the cloud first (drift).
    assert given == [(password, False), (password, True)]

    with transaction(sessions) as session:
        projects.decommission(session, deps, factories.person(), request.project_id, None)
    assert workflow.decommission(request.project_id) == "decommissioned"
    with transaction(sessions) as session:
        assert session.get(ProjectCredentials, request.project_id) is None


def test_every_operation_releases_its_lease_and_observes_its_duration(sessions, deps, workflow, provisioner):
    from controlplane.observability.counters import PROVISIONING_DURATION

    def count(operation: str, outcome: str) -> float:
        return sum(
            s.value
            for m in PROVISIONING_DURATION.collect()
            for s in m.samples
            if s.name.endswith("_count") and s.labels == {"operation": operation, "outcome": outcome}
        )

    request = approved_request(sessions, deps)
    before = {key: count(*key) for key in (("apply", "success"), ("repair", "failure"), ("destroy", "success"))}
    assert workflow.provision(request.id) == "active"
    provisioner.fail_next = "nova answered 503"
    assert workflow.reapply(request.project_id) == "failed"
    with transaction(sessions) as session:
        project = session.get_one(Project, request.project_id)
        assert (
            project.lease_owner is None and project.last_error == "repair failed: ProvisioningError: nova answered 503"
        )
        projects.decommission(session, deps, factories.person(), request.project_id, None)
    assert workflow.decommission(request.project_id) == "decommissioned"
    for key, value in before.items():
        assert count(*key) == value + 1, key
