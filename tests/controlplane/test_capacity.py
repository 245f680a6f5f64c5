"""Running totals per region: moved with every grant, change, decrease and decommission; equal to
the sums recomputed from the projects; repaired (and counted) by the invariant check; filled by the
migration from existing rows. On both real databases."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from controlplane.capacity import check_totals, lock_region, read_all, recompute
from controlplane.domain.resources import PRESETS, Resource, amounts
from controlplane.domain.states import OrganisationKind
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.persistence.migrate import downgrade, upgrade
from controlplane.persistence.models import Project, QuotaRequest, RegionTotals
from controlplane.projects import service as projects
from controlplane.quota_requests import service
from controlplane.quota_requests.schemas import QuotaRequestCreate
from controlplane.workflows.provisioning import ProvisioningWorkflow
from tests import factories
from tests.support.fakes import InMemoryProvisioner

SMALL = PRESETS["small"]


@pytest.fixture
def workflow(sessions, deps) -> ProvisioningWorkflow:
    return ProvisioningWorkflow(sessions, deps, InMemoryProvisioner(), worker_id="worker-a", lease_seconds=600)


def request_quota(sessions, deps, org_id: str, **body) -> QuotaRequest:
    with transaction(sessions) as session:
        return service.create(
            session,
            deps,
            factories.person(),
            QuotaRequestCreate(
                organisation_id=org_id, region="rabat-1", environment="prod", justification="totals", **body
            ),
        )


def stored(sessions, region_id: str = "rabat-1") -> tuple[dict[Resource, int], dict[Resource, int]]:
    with transaction(sessions) as session:
        sums = lock_region(session, region_id).sums
        actual = recompute(session, region_id)
    assert (sums.all, sums.business) == (actual.all, actual.business), "the totals must equal the projects' sums"
    return sums.all, sums.business


def test_totals_follow_grant_change_decrease_and_decommission(sessions, deps, workflow):
    with transaction(sessions) as session:
        business = factories.organisation(session).id
        agency = factories.organisation(session, kind=OrganisationKind.AGENCY).id
    assert stored(sessions) == (amounts(), amounts())

    first = request_quota(sessions, deps, business, preset="small")
    request_quota(sessions, deps, agency, preset="small")
    total, only_business = stored(sessions)
    assert total[Resource.VCPUS] == 2 * SMALL[Resource.VCPUS] and only_business == SMALL

    workflow.provision(first.id)  # a create that became active holds what it was granted
    assert stored(sessions)[1] == SMALL

    # A decrease: held at the larger amount until applied, then the new amount only.
    change = request_quota(sessions, deps, business, preset="small", amounts={"vcpus": 1})
    assert change.state == "approved" and stored(sessions)[1][Resource.VCPUS] == SMALL[Resource.VCPUS]
    workflow.provision(change.id)
    assert stored(sessions)[1][Resource.VCPUS] == 1

    # An increase approved by an approver (above the business envelope).
    bigger = request_quota(sessions, deps, business, preset="medium")
    assert bigger.state == "submitted" and stored(sessions)[1][Resource.VCPUS] == 1
    with transaction(sessions) as session:
        service.approve(session, deps, factories.approver(), bigger.id, None)
    assert stored(sessions)[1][Resource.VCPUS] == PRESETS["medium"][Resource.VCPUS]
    workflow.provision(bigger.id)

    with transaction(sessions) as session:
        project_id = session.get_one(QuotaRequest, first.id).project_id
        projects.decommission(session, deps, factories.person(), project_id, None)
    assert stored(sessions)[1][Resource.VCPUS] == PRESETS["medium"][Resource.VCPUS], "counted until removed"
    workflow.decommission(project_id)
    total, only_business = stored(sessions)
    assert only_business == amounts() and total == SMALL


def test_admission_reads_the_totals_and_refuses_past_them(sessions, deps):
    """The totals, not the projects, decide: a total moved by hand is what admission sees."""
    region = deps.catalogue.get("rabat-1")
    limit = region.limit_for(OrganisationKind.BUSINESS)
    with transaction(sessions) as session:
        org = factories.organisation(session).id
        full = {r.value: limit[r] - SMALL[r] + 1 for r in Resource}
        session.execute(update(RegionTotals).where(RegionTotals.region_id == "rabat-1").values(granted_business=full))
    request = request_quota(sessions, deps, org, preset="small")
    assert request.state == "submitted"
    assert "free 3 (business share)" in request.reason


def test_invariant_check_repairs_counts_and_logs_a_difference(sessions, deps, caplog):
    with transaction(sessions) as session:
        org = factories.organisation(session).id
    request_quota(sessions, deps, org, preset="small")
    assert check_totals(sessions) == {}
    with transaction(sessions) as session:
        session.execute(update(RegionTotals).where(RegionTotals.region_id == "rabat-1").values(granted={"vcpus": 999}))
    before = REGISTRY.get_sample_value("sahab_region_totals_repairs_total", {"region": "rabat-1"}) or 0

    with caplog.at_level(logging.ERROR, logger="controlplane.capacity"):
        repaired = check_totals(sessions)

    assert repaired["rabat-1"]["all:vcpus"] == {"stored": 999, "actual": SMALL[Resource.VCPUS]}
    assert repaired["rabat-1"]["all:ram_mib"] == {"stored": 0, "actual": SMALL[Resource.RAM_MIB]}
    assert "rabat-1: running totals differed" in caplog.text
    assert REGISTRY.get_sample_value("sahab_region_totals_repairs_total", {"region": "rabat-1"}) == before + 1
    assert stored(sessions) == (SMALL, SMALL)
    assert check_totals(sessions) == {}


def test_regions_and_metrics_share_one_read_model(client, runtime, issuer):
    with transaction(runtime.sessions) as session:
        org = factories.organisation(session, admin="amina").id
    created = client.post(
        "/v1/quota-requests",
        headers=issuer.headers("amina"),
        json={
            "organisation_id": org,
            "region": "rabat-1",
            "environment": "prod",
            "preset": "small",
            "justification": "view",
        },
    )
    assert created.status_code == 201, created.text
    regions = {r["id"]: r for r in client.get("/v1/regions", headers=issuer.headers("amina")).json()}
    metrics = client.get("/metrics").text
    with transaction(runtime.sessions) as session:
        views = {v.region.id: v for v in read_all(session, runtime.catalogue)}
    vcpus = regions["rabat-1"]["resources"]["vcpus"]
    model = views["rabat-1"].resources[Resource.VCPUS]
    assert (vcpus["granted"], vcpus["free"], vcpus["free_for_businesses"]) == (
        model.granted,
        model.free,
        model.free_for_businesses,
    )
    assert vcpus["granted"] == SMALL[Resource.VCPUS]
    assert f'sahab_region_granted{{region="rabat-1",resource="vcpus"}} {float(model.granted)}' in metrics
    assert f'sahab_region_free{{region="rabat-1",resource="vcpus"}} {float(model.free)}' in metrics


def test_migration_fills_the_totals_from_existing_projects(database_url, deps):
    downgrade(database_url, "0002")
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    # Rows written with the columns of revision 0002 only: the models describe the newest schema.
    from sqlalchemy import insert

    from controlplane.persistence.models import Organisation, RegionRow

    with transaction(sessions) as session:
        session.add(RegionRow(id="rabat-1", admissions=0))
        now = deps.clock.now()
        business, agency = "org_mig_business", "org_mig_agency"
        for org, kind, national_id in ((business, "business", "000000000000991"), (agency, "agency", "ADM-MIG")):
            session.execute(
                insert(Organisation).values(
                    id=org,
                    kind=kind,
                    legal_name=org,
                    national_id=national_id,
                    contact_email="m@example.org",
                    status="verified",
                    created_by="owner",
                    created_at=now,
                )
            )
        for n, (org, state, granted) in enumerate(
            [
                (business, "active", {"vcpus": 4, "ram_mib": 100}),
                (agency, "pending", {"vcpus": 10}),
                (business, "decommissioned", {"vcpus": 1000}),
                (business, "failed", {"volume_gib": 7}),
            ]
        ):
            session.execute(
                insert(Project).values(
                    id=f"prj_mig{n}",
                    organisation_id=org,
                    region_id="rabat-1",
                    environment=f"e{n}",
                    state=state,
                    granted=granted,
                    outputs={},
                    created_at=now,
                    updated_at=now,
                )
            )
    upgrade(database_url)
    with transaction(sessions) as session:
        row = session.scalar(select(RegionTotals).where(RegionTotals.region_id == "rabat-1"))
        assert row.granted["vcpus"] == 14 and row.granted["ram_mib"] == 100 and row.granted["volume_gib"] == 7
        assert row.granted_business["vcpus"] == 4 and row.granted_business["volume_gib"] == 7
        assert set(row.granted) == {r.value for r in Resource}
    engine.dispose()
