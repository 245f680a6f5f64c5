"""1,000 concurrent admissions race for the last free capacity of a region, through the HTTP API
served by `sahab-server api --workers 2` (real processes) on PostgreSQL: exactly as many as fit
are granted, never more, and the running totals equal the sums recomputed from the projects."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from controlplane.capacity import lock_region, recompute
from controlplane.domain.regions import DEMO_CATALOGUE, load_catalogue
from controlplane.domain.resources import PRESETS, Resource, amounts
from controlplane.domain.states import OrganisationKind
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.persistence.models import Project, QuotaRequest
from controlplane.quota_requests.admission import ensure_regions
from tests import factories
from tests.support.api_process import post_all, sahab_api

RACERS = 1000
pytestmark = pytest.mark.postgres


def test_a_thousand_concurrent_admissions_never_over_grant(postgres_url, issuer):
    region = load_catalogue(DEMO_CATALOGUE).get("rabat-1")
    limit = region.limit_for(OrganisationKind.BUSINESS)
    small = PRESETS["small"]
    fit = min(limit[r] // small[r] for r in Resource if small[r])
    assert fit < RACERS
    engine = make_engine(postgres_url)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        ensure_regions(session, [r.id for r in load_catalogue(DEMO_CATALOGUE).regions])
        org = factories.organisation(session, admin="racer").id
    headers = issuer.headers("racer")
    bodies = [
        (
            headers,
            {
                "organisation_id": org,
                "region": "rabat-1",
                "environment": f"race-{n}",
                "preset": "small",
                "justification": "the last capacity",
            },
        )
        for n in range(RACERS)
    ]

    # One organisation races alone, so the pending-requests limit must not refuse the losers first.
    with sahab_api(postgres_url, issuer.url, workers=2, max_pending_requests_per_organisation=str(RACERS)) as base:
        started = time.monotonic()
        answers = post_all(base, "/v1/quota-requests", bodies)
        elapsed = time.monotonic() - started

    statuses = [a.status_code if not isinstance(a, Exception) else repr(a) for a in answers]
    assert statuses == [201] * RACERS, {s: statuses.count(s) for s in set(statuses)}
    states = [a.json()["state"] for a in answers]
    print(f"{RACERS} concurrent admissions through 2 API processes in {elapsed:.1f} s; {fit} fit")
    assert states.count("approved") == fit and states.count("submitted") == RACERS - fit
    with transaction(sessions) as session:
        granted = [amounts(g) for g in session.scalars(select(Project.granted))]
        assert session.scalar(select(func.count()).select_from(QuotaRequest)) == RACERS
        stored, actual = lock_region(session, "rabat-1").sums, recompute(session, "rabat-1")
    assert len(granted) == fit
    for resource in Resource:
        assert sum(g[resource] for g in granted) <= limit[resource], f"over-granted {resource.value}"
    assert (stored.all, stored.business) == (actual.all, actual.business)
    engine.dispose()
