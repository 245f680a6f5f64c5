"""Applying, the automatic and approver paths, and what enrolment does to requests. Both databases."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from controlplane.capacity import check_totals, lock_region
from controlplane.domain.resources import PRESETS, as_plain
from controlplane.domain.states import OrganisationStatus
from controlplane.errors import Conflict, InvalidTransition, PermissionDenied, SeparationOfDuties
from controlplane.organisations import service as organisations
from controlplane.organisations.schemas import ProfileUpdate
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Project
from controlplane.programmes import service
from controlplane.quota_requests import service as requests
from controlplane.quota_requests.schemas import QuotaRequestCreate
from tests import factories


def ask(session, deps, org_id, preset="medium", env="prod", region="rabat-1", who="owner"):
    return requests.create(
        session,
        deps,
        factories.person(who),
        QuotaRequestCreate(
            organisation_id=org_id, region=region, environment=env, preset=preset, justification="startup workload"
        ),
    )


def test_an_eligible_verified_startup_is_enrolled_at_once_and_its_request_is_funded_by_the_programme(sessions, deps):
    with transaction(sessions) as session:
        org = factories.startup(session).id
        enrolment = service.apply(session, deps, factories.person(), "startup-launch", org)
        assert enrolment.state == "enrolled"
        assert enrolment.reason.startswith("enrolled automatically: eligible and verified; until 2027-01-01")
        assert enrolment.decided_by == "policy" and enrolment.percent_off == 100
        assert enrolment.starts_at == deps.clock.now() and enrolment.ends_at.date() == date(2027, 1, 1)
    with transaction(sessions) as session:
        # medium is above a business's envelope (small): without the programme it would wait for an approver
        request = ask(session, deps, org)
        assert request.state == "approved", request.reason
        project = session.get_one(Project, request.project_id)
        assert project.programme_id == "startup-launch"
        totals = lock_region(session, "rabat-1").sums
        assert totals.programme("startup-launch") == PRESETS["medium"]
        assert not any(totals.business.values()), "a programme grant never counts in the general pool"
    assert check_totals(sessions) == {}


def test_without_the_programme_the_same_request_waits(sessions, deps):
    with transaction(sessions) as session:
        org = factories.startup(session).id
        request = ask(session, deps, org)
        assert request.state == "submitted" and "above the business envelope" in request.reason


def test_above_the_programme_grant_the_general_rules_apply(sessions, deps):
    with transaction(sessions) as session:
        org = factories.startup(session).id
        service.apply(session, deps, factories.person(), "startup-launch", org)
        request = ask(session, deps, org, preset="large")
        assert request.state == "submitted" and "above the business envelope" in request.reason


def test_when_the_reserve_is_spent_the_next_enrolled_request_waits_for_an_approver(sessions, deps):
    with transaction(sessions) as session:
        orgs = [factories.startup(session, admin=f"owner{n}").id for n in range(3)]
        for n, org in enumerate(orgs):
            service.apply(session, deps, factories.person(f"owner{n}"), "startup-launch", org)
    states = []
    for n, org in enumerate(orgs):
        with transaction(sessions) as session:
            request = ask(session, deps, org, who=f"owner{n}")
            states.append((request.state, request.reason or ""))
    assert [s for s, _ in states] == ["approved", "approved", "submitted"]  # the reserve holds 2 x medium
    assert "not enough free capacity in the reserve of programme startup-launch" in states[2][1]
    assert "(programme startup-launch)" in states[2][1]


def test_an_ineligible_applicant_is_rejected_with_every_reason(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session, employees=400, founded_on=date(1999, 1, 1)).id
        enrolment = service.apply(session, deps, factories.person(), "startup-launch", org)
        assert enrolment.state == "rejected" and enrolment.decided_by == "policy"
        assert "at most 50 employees, not 400" in enrolment.reason
        assert "founded less than 3 years ago" in enrolment.reason
        # a rejected application may be retried once the profile is right
        organisations.update_profile(
            session, deps.clock, factories.person(), org, ProfileUpdate(employees=20, founded_on=date(2025, 1, 1))
        )
        again = service.apply(session, deps, factories.person(), "startup-launch", org)
        assert again.state == "pending" and "must verify it again" in again.reason


def test_the_approver_path_with_reasons_and_separation_of_duties(sessions, deps):
    with transaction(sessions) as session:
        org = factories.organisation(session, sector="textiles", employees=40).id
        enrolment = service.apply(session, deps, factories.person(), "digital-transition", org)
        assert enrolment.state == "pending"
        assert "every enrolment decided by an approver" in enrolment.reason
        with pytest.raises(PermissionDenied):
            service.approve(session, deps, factories.person(), enrolment.id, "self-service")
        with pytest.raises(SeparationOfDuties):
            service.approve(session, deps, factories.approver("owner"), enrolment.id, "my own firm")
        approved = service.approve(
            session, deps, factories.approver("amal"), enrolment.id, "textile export plan checked"
        )
        assert approved.state == "enrolled" and approved.decided_by == "amal"
        assert approved.reason.startswith("approved by amal: textile export plan checked; until ")
        assert approved.percent_off == 50
        with pytest.raises(InvalidTransition):
            service.reject(session, deps, factories.approver("amal"), enrolment.id, "changed my mind")


def test_an_unverified_profile_waits_and_cannot_be_approved_until_verified(sessions, deps):
    with transaction(sessions) as session:
        org = factories.startup(session).id
        organisations.update_profile(session, deps.clock, factories.person(), org, ProfileUpdate(employees=7))
        enrolment = service.apply(session, deps, factories.person(), "startup-launch", org)
        assert enrolment.state == "pending" and "changed since an operator verified it" in enrolment.reason
        with pytest.raises(Conflict, match="must verify it again"):
            service.approve(session, deps, factories.approver("amal"), enrolment.id, "looks fine")
        organisations.set_status(session, factories.operator("olga"), org, OrganisationStatus.VERIFIED, deps.clock)
        assert service.approve(session, deps, factories.approver("amal"), enrolment.id, "verified").state == "enrolled"


def test_an_unchanged_profile_keeps_its_verification(sessions, deps):
    with transaction(sessions) as session:
        org = factories.startup(session)
        verified_at = org.profile_verified_at
        organisations.update_profile(session, deps.clock, factories.person(), org.id, ProfileUpdate(employees=6))
        assert org.profile_verified_at == verified_at


def test_one_live_enrolment_at_a_time_and_a_programme_once(sessions, deps):
    with transaction(sessions) as session:
        org = factories.startup(session, sector="textiles").id
        first = service.apply(session, deps, factories.person(), "startup-launch", org)
        with pytest.raises(Conflict, match="one at a time"):
            service.apply(session, deps, factories.person(), "digital-transition", org)
        first.state = "ended"
        session.flush()
        with pytest.raises(Conflict, match="granted once"):
            service.apply(session, deps, factories.person(), "startup-launch", org)


def test_only_admins_apply_and_others_see_nothing(sessions, deps):
    with transaction(sessions) as session:
        org = factories.startup(session, members=("mina",)).id
        with pytest.raises(PermissionDenied):
            service.apply(session, deps, factories.person("mina"), "startup-launch", org)
        enrolment = service.apply(session, deps, factories.person(), "startup-launch", org)
        stranger = factories.person("stranger")
        with pytest.raises(Exception, match="not found"):
            service.apply(session, deps, stranger, "startup-launch", org)
        with pytest.raises(Exception, match="not found"):
            service.get(session, stranger, enrolment.id)
        assert service.list_visible(session, stranger, cursor=None, limit=50).items == []
        assert [e.id for e in service.list_visible(session, factories.person("mina"), cursor=None, limit=50).items] == [
            enrolment.id
        ]


def test_a_decrease_of_a_programme_project_stays_in_the_reserve(sessions, deps):
    with transaction(sessions) as session:
        org = factories.startup(session).id
        service.apply(session, deps, factories.person(), "startup-launch", org)
        factories.active_project(session, org, deps=deps, environment="prod", preset="medium")
    with transaction(sessions) as session:
        decrease = ask(session, deps, org, preset="small")
        assert decrease.state == "approved"
    with transaction(sessions) as session:
        sums = lock_region(session, "rabat-1").sums
        assert sums.programme("startup-launch") == PRESETS["medium"]  # held at the larger until applied
        assert as_plain(sums.business) == as_plain({})
    assert check_totals(sessions) == {}
    with transaction(sessions) as session:
        assert session.scalar(select(Project.programme_id)) == "startup-launch"
