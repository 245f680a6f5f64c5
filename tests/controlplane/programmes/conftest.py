from __future__ import annotations

import pytest

from controlplane.clock import FrozenClock
from controlplane.dependencies import ApprovalPolicy, ServiceDependencies
from controlplane.domain.regions import DEMO_CATALOGUE, load_catalogue
from controlplane.programmes.catalogue import DEMO_PROGRAMMES, load_programmes, with_reserves
from tests.support.fakes import RecordingQueue


@pytest.fixture
def deps(clock: FrozenClock, queue: RecordingQueue) -> ServiceDependencies:
    """The demo regions and programmes: startup-launch (auto, free, medium grant, 2 x medium reserved in
    rabat-1) and digital-transition (approver, 50 %, 1 x medium in casablanca-1)."""
    regions = load_catalogue(DEMO_CATALOGUE)
    programmes = load_programmes(DEMO_PROGRAMMES, regions)
    return ServiceDependencies(
        catalogue=with_reserves(regions, programmes),
        clock=clock,
        queue=queue,
        programmes=programmes,
        policy=ApprovalPolicy(envelope={"business": "small", "agency": "medium"}),
    )
