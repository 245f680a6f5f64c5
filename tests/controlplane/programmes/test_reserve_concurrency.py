"""A programme's reserve under real concurrency on PostgreSQL: enrolled startups and other businesses race for
the last capacity of both pools at once. Exactly what fits each pool is granted from it: nothing of the reserve
goes to others, and nothing of the general pool to the programme once its reserve is spent."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from controlplane.capacity import check_totals, lock_region
from controlplane.domain.resources import PRESETS, Resource
from controlplane.domain.states import OrganisationKind
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.persistence.models import Project, QuotaRequest
from controlplane.programmes import service as programmes
from controlplane.quota_requests import service
from controlplane.quota_requests.admission import ensure_regions
from controlplane.quota_requests.schemas import QuotaRequestCreate
from tests import factories
from tests.support.concurrency import at_once

STARTUPS, OTHERS = 8, 16


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_reserve_and_the_general_pool_never_lend_to_each_other(database_url, deps):
    engine = make_engine(database_url, pool_size=STARTUPS + OTHERS, max_overflow=5)
    sessions = make_session_factory(engine)
    region = deps.catalogue.get("rabat-1")
    medium, small = PRESETS["medium"], PRESETS["small"]
    reserve = region.reserved_for("startup-launch")
    general = region.limit_for(OrganisationKind.BUSINESS)
    fit_reserve = min(reserve[r] // medium[r] for r in Resource if medium[r])
    fit_general = min(general[r] // small[r] for r in Resource if small[r])
    assert fit_reserve < STARTUPS and fit_general < OTHERS, "both pools must run out"
    with transaction(sessions) as session:
        ensure_regions(session, ["rabat-1"])
        startups = [factories.startup(session, admin=f"s{n}").id for n in range(STARTUPS)]
        others = [factories.organisation(session, admin=f"o{n}").id for n in range(OTHERS)]
        for n, org in enumerate(startups):
            assert programmes.apply(session, deps, factories.person(f"s{n}"), "startup-launch", org).state == "enrolled"

    def ask(org: str, who: str, preset: str) -> None:
        with transaction(sessions) as session:
            service.create(
                session,
                deps,
                factories.person(who),
                QuotaRequestCreate(
                    organisation_id=org, region="rabat-1", environment="prod", preset=preset, justification="race"
                ),
            )

    actions = [lambda org=org, n=n: ask(org, f"s{n}", "medium") for n, org in enumerate(startups)]
    actions += [lambda org=org, n=n: ask(org, f"o{n}", "small") for n, org in enumerate(others)]
    assert at_once(actions) == []

    with transaction(sessions) as session:
        rows = session.execute(
            select(
                QuotaRequest.organisation_id, QuotaRequest.state, QuotaRequest.reason, Project.programme_id
            ).outerjoin(Project, Project.id == QuotaRequest.project_id)
        ).all()
        sums = lock_region(session, "rabat-1").sums
    by_startups = [r for r in rows if r.organisation_id in startups]
    by_others = [r for r in rows if r.organisation_id in others]
    assert sum(r.state == "approved" for r in by_startups) == fit_reserve
    assert all(r.programme_id == "startup-launch" for r in by_startups if r.state == "approved")
    assert all("reserve of programme startup-launch" in r.reason for r in by_startups if r.state == "submitted")
    assert sum(r.state == "approved" for r in by_others) == fit_general
    assert all(r.programme_id is None for r in by_others if r.state == "approved")
    for resource in Resource:
        assert sums.programme("startup-launch")[resource] == fit_reserve * medium[resource] <= reserve[resource]
        assert sums.business[resource] == fit_general * small[resource] <= general[resource]
    assert check_totals(sessions) == {}, "the running totals equal the projects' sums"
    engine.dispose()
