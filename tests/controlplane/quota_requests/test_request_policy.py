"""Separation of duties, amounts bounded by the region, and the pending limit per organisation."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from controlplane.domain.principal import Principal
from controlplane.domain.regions import Catalogue
from controlplane.domain.states import MemberRole, OrganisationKind, PlatformRole
from controlplane.errors import InvalidInput, SeparationOfDuties, TooManyPendingRequests
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.persistence.models import Membership, QuotaRequest
from controlplane.quota_requests import service
from controlplane.quota_requests.admission import ensure_regions
from controlplane.quota_requests.schemas import QuotaRequestCreate
from tests import factories


def ask(org_id: str, env: str = "prod", region: str = "rabat-1", **kwargs) -> QuotaRequestCreate:
    kwargs.setdefault("preset", "medium")  # above the business envelope: waits for an approver
    return QuotaRequestCreate(organisation_id=org_id, region=region, environment=env, justification="needed", **kwargs)


def waiting_request(sessions, deps, *, members: tuple[str, ...] = (), filed_by: str = "owner") -> tuple[str, str]:
    with transaction(sessions) as session:
        org = factories.organisation(session, members=members + ((filed_by,) if filed_by != "owner" else ()))
        request = service.create(session, deps, factories.person(filed_by), ask(org.id))
        assert request.state == "submitted"
        return org.id, request.id


@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_an_approver_who_is_a_member_may_not_decide_for_their_organisation(sessions, deps, decide):
    _, request_id = waiting_request(sessions, deps, members=("salma",))
    salma = Principal(subject="salma", issuer="test", platform_roles=frozenset({PlatformRole.APPROVER}))
    with transaction(sessions) as session:
        with pytest.raises(SeparationOfDuties, match="another approver must decide") as refused:
            getattr(service, decide)(session, deps, salma, request_id, "my own")
        assert "member of organisation" in refused.value.detail
    with transaction(sessions) as session:
        assert service.get(session, salma, request_id).state == "submitted"
        decided = getattr(service, decide)(session, deps, factories.approver("hamza"), request_id, "independent")
        assert decided.state == {"approve": "approved", "reject": "rejected"}[decide]


def test_membership_claimed_in_the_token_counts_too(sessions, deps):
    org_id, request_id = waiting_request(sessions, deps)
    bot = Principal(
        subject="client:ops-bot",
        issuer="test",
        platform_roles=frozenset({PlatformRole.APPROVER}),
        claimed_organisations={org_id: MemberRole.MEMBER},
    )
    with transaction(sessions) as session:
        with pytest.raises(SeparationOfDuties):
            service.approve(session, deps, bot, request_id, None)


def test_an_approver_who_filed_a_request_may_not_decide_it_after_leaving(sessions, deps):
    org_id, request_id = waiting_request(sessions, deps, filed_by="salma")
    with transaction(sessions) as session:  # salma leaves the organisation
        session.delete(session.get_one(Membership, (org_id, "salma")))
    with transaction(sessions) as session:
        with pytest.raises(SeparationOfDuties, match="filed this request"):
            service.approve(session, deps, factories.approver("salma"), request_id, None)


def test_amounts_above_the_regions_capacity_are_refused_and_nothing_is_stored(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session, kind=OrganisationKind.AGENCY)
    # rabat-1: 64 vCPUs x 4.0 overcommit = 256; casablanca-1 has 65536 MiB and no overcommit.
    with transaction(sessions) as session:
        with pytest.raises(
            InvalidInput, match="the capacity of region rabat-1: vcpus requested 257, at most 256"
        ) as refused:
            service.create(session, deps, factories.person(), ask(org.id, amounts={"vcpus": 257}))
        assert refused.value.extra["bounds"] == [{"resource": "vcpus", "requested": 257, "max": 256}]
        with pytest.raises(InvalidInput, match="casablanca-1: .*ram_mib requested 131072, at most 65536"):
            service.create(session, deps, factories.person(), ask(org.id, region="casablanca-1", preset="large"))
        assert session.scalar(select(func.count()).select_from(QuotaRequest)) == 0
    with transaction(sessions) as session:
        request = service.create(session, deps, factories.person(), ask(org.id, amounts={"vcpus": 256}))
        assert request.amounts["vcpus"] == 256


def test_a_project_granted_more_than_a_shrunk_region_holds_may_still_shrink(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session, kind=OrganisationKind.AGENCY)
        factories.active_project(
            session, org.id, deps=deps, environment="prod", preset="medium", amounts={"vcpus": 200}
        )
    deps.catalogue = Catalogue(
        regions=[
            r.model_copy(update={"capacity": {**r.capacity, "vcpus": 16}}) if r.id == "rabat-1" else r
            for r in deps.catalogue.regions
        ]
    )  # now 64 grantable
    with transaction(sessions) as session:
        with pytest.raises(InvalidInput, match="vcpus requested 201, at most 200"):
            service.create(session, deps, factories.person(), ask(org.id, amounts={"vcpus": 201}))
        lowered = service.create(session, deps, factories.person(), ask(org.id, amounts={"vcpus": 100}))
        assert lowered.kind == "change" and lowered.amounts["vcpus"] == 100


def test_an_organisation_has_at_most_the_configured_number_of_requests_waiting(sessions, deps):
    deps.policy = type(deps.policy)(envelope=deps.policy.envelope, max_pending_requests=3)
    with transaction(sessions) as session:
        org = factories.organisation(session)
        other = factories.organisation(session)
    with transaction(sessions) as session:
        waiting = [service.create(session, deps, factories.person(), ask(org.id, env=f"env-{n}")) for n in range(3)]
    with transaction(sessions) as session:
        with pytest.raises(
            TooManyPendingRequests, match="already has 3 requests waiting for a decision .at most 3."
        ) as refused:
            service.create(session, deps, factories.person(), ask(org.id, env="env-4"))
        assert refused.value.extra == {"pending": 3, "limit": 3}
    with transaction(sessions) as session:  # another organisation's queue is its own
        service.create(session, deps, factories.person(), ask(other.id, env="env-4"))
    with transaction(sessions) as session:
        service.cancel(session, deps, factories.person(), waiting[0].id, None)
    with transaction(sessions) as session:
        assert service.create(session, deps, factories.person(), ask(org.id, env="env-4")).state == "submitted"


def test_racing_requests_never_pass_the_pending_limit(database_url, deps):
    """Twelve threads, each with its own connection, submit at once: the organisation's row lock (PostgreSQL)
    or the IMMEDIATE transaction (SQLite) serialises count and insert, so exactly the limit get in."""
    racers, limit = 12, 3
    deps.policy = type(deps.policy)(envelope=deps.policy.envelope, max_pending_requests=limit)
    engine = make_engine(database_url, **({"pool_size": racers} if database_url.startswith("postgres") else {}))
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        ensure_regions(session, ["rabat-1"])
        org_id = factories.organisation(session).id
    barrier, outcomes = threading.Barrier(racers), []

    def submit(n: int) -> None:
        barrier.wait(timeout=30)
        try:
            with transaction(sessions) as session:
                outcomes.append(service.create(session, deps, factories.person(), ask(org_id, env=f"race-{n}")).state)
        except TooManyPendingRequests:
            outcomes.append("refused")

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    engine.dispose()
    assert sorted(outcomes) == ["refused"] * (racers - limit) + ["submitted"] * limit
