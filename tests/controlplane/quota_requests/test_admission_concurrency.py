"""Admission under real concurrency: requests racing for the last free capacity.

Fifty threads, each with its own connection, submit at the same instant. On
PostgreSQL the region row lock serialises check-and-reserve; on SQLite the
IMMEDIATE transaction does. Exactly as many as fit are granted."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from controlplane.domain.resources import PRESETS, Resource, amounts
from controlplane.domain.states import OrganisationKind
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.persistence.models import Project, QuotaRequest
from controlplane.quota_requests import service
from controlplane.quota_requests.schemas import QuotaRequestCreate
from tests import factories
from tests.support.concurrency import at_once

RACERS = 50


def race(sessions, deps, org_ids: list[str]) -> list[BaseException]:
    def submit(org_id: str) -> None:
        with transaction(sessions) as session:
            service.create(
                session,
                deps,
                factories.person(),
                QuotaRequestCreate(
                    organisation_id=org_id,
                    region="rabat-1",
                    environment="prod",
                    preset="small",
                    justification="race",
                ),
            )

    return at_once([lambda org_id=org_id: submit(org_id) for org_id in org_ids])


def test_fifty_concurrent_requests_for_the_last_capacity(database_url, deps):
    engine = make_engine(
        database_url, **({"pool_size": RACERS, "max_overflow": 5} if database_url.startswith("postgres") else {})
    )
    sessions = make_session_factory(engine)
    region = deps.catalogue.get("rabat-1")
    limit = region.limit_for(OrganisationKind.BUSINESS)
    small = PRESETS["small"]
    fit = min(limit[r] // small[r] for r in Resource if small[r])
    assert fit < RACERS, "the race must be for the last free capacity"
    with transaction(sessions) as session:
        from controlplane.quota_requests.admission import ensure_regions

        ensure_regions(session, ["rabat-1"])
        org_ids = [factories.organisation(session).id for _ in range(RACERS)]

    errors = race(sessions, deps, org_ids)

    assert errors == []
    with transaction(sessions) as session:
        states = list(session.scalars(select(QuotaRequest.state)))
        granted = [amounts(g) for g in session.scalars(select(Project.granted))]
    assert states.count("approved") == fit
    assert states.count("submitted") == RACERS - fit
    for resource in Resource:
        assert sum(g[resource] for g in granted) <= limit[resource]
    engine.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_postgres_waits_on_the_region_row_lock(database_url, deps):
    """A second admission in the same region blocks until the first transaction ends."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    from controlplane.quota_requests.admission import ensure_regions, lock_region

    with transaction(sessions) as session:
        ensure_regions(session, ["rabat-1"])
    entered = threading.Event()
    holder = sessions()
    holder.begin()
    lock_region(holder, "rabat-1")

    def second() -> None:
        with transaction(sessions) as session:
            lock_region(session, "rabat-1")
            entered.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not entered.wait(timeout=1.0), "the second admission must wait for the lock"
    holder.commit()
    holder.close()
    assert entered.wait(timeout=10)
    thread.join()
    engine.dispose()
