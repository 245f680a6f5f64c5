from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from controlplane.clock import FrozenClock
from controlplane.dependencies import ApprovalPolicy, ServiceDependencies
from controlplane.domain.regions import DEMO_CATALOGUE, load_catalogue
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.quota_requests.admission import ensure_regions
from tests.support.fakes import RecordingQueue


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        ensure_regions(session, [r.id for r in load_catalogue(DEMO_CATALOGUE).regions])
    yield factory
    engine.dispose()


@pytest.fixture
def deps(clock: FrozenClock, queue: RecordingQueue) -> ServiceDependencies:
    return ServiceDependencies(
        catalogue=load_catalogue(DEMO_CATALOGUE),
        clock=clock,
        queue=queue,
        policy=ApprovalPolicy(envelope={"business": "small", "agency": "medium"}),
    )
