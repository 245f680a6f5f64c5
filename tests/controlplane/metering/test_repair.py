"""ProvisioningWorkflow.reapply (repair of drift) re-applies the granted quota through the provisioner without new request states."""

from __future__ import annotations

import pytest

from controlplane.persistence.database import transaction
from controlplane.persistence.models import Project, QuotaRequest
from controlplane.projects.service import tenant_spec
from controlplane.quota_requests import service
from controlplane.workflows.provisioning import ProvisioningWorkflow
from tests import factories


@pytest.fixture
def on_the_cloud(sessions, deps, provisioner, active_project) -> Project:
    """An active project whose tenant the provisioner holds, as after its provisioning."""
    project = active_project()
    with transaction(sessions) as session:
        provisioner.apply(tenant_spec(session, deps, session.get_one(Project, project.id)), lambda event: None)
    return project


def test_reapply_uses_granted_quota_and_records_progress(sessions, deps, provisioner, on_the_cloud):
    project = on_the_cloud
    workflow = ProvisioningWorkflow(sessions, deps, provisioner, worker_id="w")
    assert workflow.reapply(project.id) == "repaired"
    assert provisioner.applies == [project.id, project.id]
    assert provisioner.tenants[project.id].quota == project.granted
    with transaction(sessions) as session:
        request = session.get_one(QuotaRequest, project.current_request_id)
        events = service.events(session, factories.approver(), request.id)
        assert request.state == "active" and session.get_one(Project, project.id).lease_owner is None
    assert [e.reason for e in events[-3:]] == [
        "repair: re-applying the granted quota",
        "keystone project unchanged",
        "repair: granted quota re-applied",
    ]


def test_failed_repair_is_recorded_on_the_project_only(sessions, deps, provisioner, on_the_cloud):
    project = on_the_cloud
    provisioner.fail_next = "cloud down"
    assert ProvisioningWorkflow(sessions, deps, provisioner, worker_id="w").reapply(project.id) == "failed"
    with transaction(sessions) as session:
        stored = session.get_one(Project, project.id)
        assert stored.state == "active" and "cloud down" in stored.last_error and stored.lease_owner is None
        assert session.get_one(QuotaRequest, project.current_request_id).state == "active"


def test_nothing_to_repair_for_a_missing_project(sessions, deps, provisioner):
    assert (
        ProvisioningWorkflow(sessions, deps, provisioner, worker_id="w").reapply("prj_nope").startswith("nothing to do")
    )
