"""A programme's end for real, with a controlled clock: a startup's programme-funded project is provisioned by
the real Pulumi engine on the local OpenStack; the enrolment expires without a choice; after the grace period
Sahab asks for the decrease itself, the normal lifecycle applies it on the cloud (the quota read back from
Nova, Cinder and Neutron), and the project leaves the programme's reserve for the general pool.

In-process (workflow and scheduler called directly, one PostgreSQL), so the clock can be moved; the API and
Celery paths are covered by the other end-to-end tests."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import select

from controlplane.capacity import check_totals, lock_region
from controlplane.clock import FrozenClock
from controlplane.composition import build_worker
from controlplane.domain.resources import PRESETS, as_plain
from controlplane.mail import NullMailer
from controlplane.persistence.database import transaction
from controlplane.persistence.models import ProgrammeEnrolment, Project, QuotaRequest
from controlplane.programmes import service as programmes
from controlplane.programmes.catalogue import DEMO_PROGRAMMES
from controlplane.programmes.expiry import ProgrammeScheduler
from controlplane.quota_requests import service as requests
from controlplane.quota_requests.schemas import QuotaRequestCreate
from controlplane.settings import Settings
from controlplane.workflows.provisioning import ProvisioningWorkflow
from tests import factories
from tests.support.e2e import clouds_yaml, toolchain_path
from tests.support.fakes import RecordingQueue
from tests.support.tenants import cleanup, read_quota

pytestmark = [pytest.mark.devcloud, pytest.mark.pulumi, pytest.mark.postgres, pytest.mark.timeout(1200)]


def test_sahab_shrinks_an_expired_enrolment_on_the_cloud(postgres_url, cloud, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{toolchain_path()}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", clouds_yaml())
    monkeypatch.setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
    monkeypatch.setenv("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
    settings = Settings(
        database_url=postgres_url,
        data_dir=tmp_path / "data",
        broker_url="memory://",
        demo_accounts=False,
        provisioner="pulumi",
        pulumi_passphrase="e2e-passphrase",
        programmes_path=DEMO_PROGRAMMES,
    )
    queue, clock = RecordingQueue(), FrozenClock()
    runtime = build_worker(settings, queue=queue, clock=clock)
    runtime.prepare_database()
    deps, sessions = runtime.deps, runtime.sessions
    workflow = ProvisioningWorkflow(
        sessions, deps, runtime.provisioner, worker_id="e2e-programmes", vault=runtime.vault
    )
    scheduler = ProgrammeScheduler(sessions, deps, NullMailer())
    with transaction(sessions) as session:
        org = factories.startup(session, admin="founder").id
        enrolment = programmes.apply(session, deps, factories.person("founder"), "startup-launch", org)
        assert enrolment.state == "enrolled"
        enrolment_id, ends_at = enrolment.id, enrolment.ends_at
        # Amounts the local OpenStack holds easily; still above the business envelope (small) in vCPUs.
        grant = {**as_plain(PRESETS["small"]), "vcpus": 8, "ram_mib": 8192, "instances": 2}
        request = requests.create(
            session,
            deps,
            factories.person("founder"),
            QuotaRequestCreate(
                organisation_id=org, region="rabat-1", environment="prod", amounts=grant, justification="startup"
            ),
        )
        assert request.state == "approved" and "programme startup-launch" in request.reason
        first = request.id
    try:
        assert workflow.provision(first) == "active"
        with transaction(sessions) as session:
            project = session.scalar(select(Project).where(Project.organisation_id == org))
            openstack_id, project_id = project.openstack_project_id, project.id
            assert project.programme_id == "startup-launch"
        assert read_quota(cloud, openstack_id)["vcpus"] == 8

        clock._now = ends_at + timedelta(days=14)  # expiry and the whole grace period pass without a choice
        outcome = scheduler.run()
        assert outcome.expired == [enrolment_id] and outcome.shrinking == [enrolment_id]
        (decrease,) = outcome.decreases
        assert queue.provisioned[-1] == decrease
        assert workflow.provision(decrease) == "active"  # the normal lifecycle, on the cloud
        # each resource down to the lower of its grant and the normal envelope (instances stay at 2)
        shrunk = {
            name: min(value, PRESETS["small"][resource])
            for resource, name, value in ((r, r.value, grant[r.value]) for r in PRESETS["small"])
        }
        assert shrunk["vcpus"] == 4 and shrunk["instances"] == 2
        assert read_quota(cloud, openstack_id) == shrunk

        assert scheduler.run().ended == [enrolment_id]
        with transaction(sessions) as session:
            assert session.get_one(ProgrammeEnrolment, enrolment_id).state == "ended"
            assert session.get_one(QuotaRequest, decrease).created_by == "sahab:programmes"
            moved = session.get_one(Project, project_id)
            assert moved.programme_id is None and moved.granted == shrunk
            sums = lock_region(session, "rabat-1").sums
            assert as_plain(sums.business) == shrunk and not any(sums.programme("startup-launch").values())
        assert check_totals(sessions) == {}

        with transaction(sessions) as session:
            from controlplane.projects import service as projects

            projects.decommission(session, deps, factories.person("founder"), project_id, "end of test")
        assert workflow.decommission(project_id) == "decommissioned"
    finally:
        cleanup(cloud, org)
        runtime.engine.dispose()
