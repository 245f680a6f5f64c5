"""The approval policy and the lifecycle as the services drive it."""

from __future__ import annotations

import pytest

from controlplane.domain.states import OrganisationKind, OrganisationStatus, RequestState
from controlplane.errors import (
    Conflict,
    InsufficientCapacity,
    InvalidTransition,
    NotFound,
    OrganisationNotVerified,
    PermissionDenied,
    RegionNotOpen,
)
from controlplane.persistence.database import transaction
from controlplane.persistence.models import RequestEvent
from controlplane.quota_requests import service
from controlplane.quota_requests.schemas import QuotaRequestCreate
from tests import factories


def ask(org_id: str, region: str = "rabat-1", env: str = "prod", **kwargs) -> QuotaRequestCreate:
    kwargs.setdefault("preset", "small")
    return QuotaRequestCreate(organisation_id=org_id, region=region, environment=env, justification="needed", **kwargs)


def test_within_envelope_is_approved_and_queued_only_after_commit(sessions, deps, queue):
    with transaction(sessions) as session:
        org = factories.organisation(session)
        request = service.create(session, deps, factories.person(), ask(org.id))
        assert request.state == "approved"
        assert queue.provisioned == []  # not before the commit
    assert queue.provisioned == [request.id]


def test_nothing_is_queued_when_the_transaction_rolls_back(sessions, deps, queue):
    with pytest.raises(RuntimeError):
        with transaction(sessions) as session:
            org = factories.organisation(session)
            service.create(session, deps, factories.person(), ask(org.id))
            raise RuntimeError("the request failed after the service call")
    assert queue.provisioned == []


def test_above_envelope_waits_for_an_approver_with_the_reason(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session)
        request = service.create(session, deps, factories.person(), ask(org.id, preset="medium"))
    assert request.state == "submitted"
    assert "above the business envelope (small)" in request.reason and "vcpus" in request.reason


def test_agency_envelope_is_larger(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session, kind=OrganisationKind.AGENCY)
        request = service.create(session, deps, factories.person(), ask(org.id, preset="medium"))
    assert request.state == "approved"


def test_unverified_organisation_cannot_request(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session, status=OrganisationStatus.PENDING_VERIFICATION)
        with pytest.raises(OrganisationNotVerified):
            service.create(session, deps, factories.person(), ask(org.id))


def test_draining_region_refuses_new_projects(sessions, deps):
    from controlplane.domain.regions import Catalogue

    deps.catalogue = Catalogue(
        regions=[
            r.model_copy(update={"status": "draining"}) if r.id == "casablanca-1" else r for r in deps.catalogue.regions
        ]
    )
    with transaction(sessions) as session:
        org = factories.organisation(session)
        with pytest.raises(RegionNotOpen):
            service.create(session, deps, factories.person(), ask(org.id, region="casablanca-1"))


def test_approver_decides_and_every_transition_is_an_event(sessions, deps, clock):
    with transaction(sessions) as session:
        org = factories.organisation(session)
        request = service.create(session, deps, factories.person(), ask(org.id, preset="medium"))
    clock.advance(minutes=5)
    with transaction(sessions) as session:
        with pytest.raises(PermissionDenied):
            service.approve(session, deps, factories.person(), request.id, None)
    with transaction(sessions) as session:
        service.approve(session, deps, factories.approver("salma"), request.id, "looks right")
        events = service.events(session, factories.approver(), request.id)
    assert [(e.actor, e.from_state, e.to_state, e.reason) for e in events] == [
        ("owner", None, "submitted", "needed"),
        ("salma", "submitted", "approved", "looks right"),
    ]
    assert events[1].at > events[0].at


def test_illegal_transition_changes_nothing(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session)
        request = service.create(session, deps, factories.person(), ask(org.id))
    with pytest.raises(InvalidTransition):
        with transaction(sessions) as session:
            service.cancel(session, deps, factories.person(), request.id, None)
    with transaction(sessions) as session:
        assert service.get(session, factories.person(), request.id).state == "approved"
        assert session.query(RequestEvent).filter_by(request_id=request.id).count() == 2


def test_reject_and_cancel_are_final(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session)
        first = service.create(session, deps, factories.person(), ask(org.id, preset="large"))
        service.reject(session, deps, factories.approver(), first.id, "too large for a pilot")
        second = service.create(session, deps, factories.person(), ask(org.id, preset="large"))
        service.cancel(session, deps, factories.person(), second.id, None)
    for request_id in (first.id, second.id):
        with pytest.raises(InvalidTransition):
            with transaction(sessions) as session:
                service.approve(session, deps, factories.approver(), request_id, None)


def test_one_open_request_per_environment(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session)
        service.create(session, deps, factories.person(), ask(org.id, preset="large"))
        with pytest.raises(Conflict, match="still waiting for a decision"):
            service.create(session, deps, factories.person(), ask(org.id, preset="large"))


def test_approval_is_refused_when_capacity_is_gone(sessions, deps):
    with transaction(sessions) as session:
        agency = factories.organisation(session, kind=OrganisationKind.AGENCY)
        business = factories.organisation(session)
        waiting = service.create(
            session, deps, factories.person(), ask(business.id, amounts={"vcpus": 150}, preset=None)
        )
        # The agency takes most vCPUs (256 grantable in rabat-1); 150 no longer fits.
        big = service.create(session, deps, factories.person(), ask(agency.id, amounts={"vcpus": 200}, preset=None))
        service.approve(session, deps, factories.approver(), big.id, None)
    with transaction(sessions) as session:
        with pytest.raises(InsufficientCapacity) as refused:
            service.approve(session, deps, factories.approver(), waiting.id, None)
    assert refused.value.extra["shortfalls"] == [{"resource": "vcpus", "requested": 150, "free": 56, "scope": "region"}]
    with transaction(sessions) as session:
        assert service.get(session, factories.approver(), waiting.id).state == "submitted"


def test_businesses_never_use_the_agencies_share(sessions, deps):
    # rabat-1: 256 grantable vCPUs, 25% reserved for agencies -> businesses together get 192.
    with transaction(sessions) as session:
        business = factories.organisation(session)
        request = service.create(
            session, deps, factories.person(), ask(business.id, amounts={"vcpus": 193}, preset=None)
        )
        with pytest.raises(InsufficientCapacity, match="business share"):
            service.approve(session, deps, factories.approver(), request.id, None)
        agency = factories.organisation(session, kind=OrganisationKind.AGENCY)
        agency_request = service.create(
            session, deps, factories.person(), ask(agency.id, amounts={"vcpus": 193}, preset=None)
        )
        service.approve(session, deps, factories.approver(), agency_request.id, None)
        assert agency_request.state == "approved"


def test_members_of_other_organisations_see_nothing(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session)
        request = service.create(session, deps, factories.person(), ask(org.id))
    with transaction(sessions) as session:
        stranger = factories.person("stranger")
        with pytest.raises(NotFound):
            service.get(session, stranger, request.id)
        with pytest.raises(NotFound):
            service.create(session, deps, stranger, ask(org.id, env="dev"))
        assert service.list_visible(session, stranger, cursor=None, limit=10).items == []
        assert [r.id for r in service.list_visible(session, factories.approver(), cursor=None, limit=10).items] == [
            request.id
        ]


def test_decrease_below_usage_is_rejected_with_usage_shown(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session)
        project = factories.active_project(session, org.id, deps=deps, environment="prod")
        project.last_usage = {"vcpus": 3, "ram_mib": 4096}  # as if metered
    with transaction(sessions) as session:
        change = service.create(
            session, deps, factories.person(), ask(org.id, preset=None, amounts={**project.granted, "vcpus": 2})
        )
    assert change.state == RequestState.REJECTED
    assert "vcpus requested 2, in use 3" in change.reason


def test_decrease_is_approved_automatically_even_above_the_envelope(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session, kind=OrganisationKind.AGENCY)
        project = factories.active_project(session, org.id, deps=deps, environment="prod", preset="large")
    with transaction(sessions) as session:
        change = service.create(
            session, deps, factories.person(), ask(org.id, preset=None, amounts={**project.granted, "vcpus": 32})
        )
    assert change.state == "approved" and change.kind == "change"
    assert "a decrease" in change.reason


def test_a_broker_outage_after_commit_does_not_fail_the_request(sessions, deps, queue):
    def broker_down(request_id: str) -> None:
        raise ConnectionError("broker unreachable")

    queue.provision = broker_down
    with transaction(sessions) as session:
        org = factories.organisation(session)
        request = service.create(session, deps, factories.person(), ask(org.id))
    with transaction(sessions) as session:
        # Committed and approved; beat's reconcile sends it once the broker is back.
        assert service.get(session, factories.person(), request.id).state == "approved"
