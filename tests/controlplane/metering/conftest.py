from __future__ import annotations

import pytest

from controlplane.metering.collect import MeteringCollector
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Project
from tests import factories
from tests.support.fakes import InMemoryProvisioner
from tests.support.metering import FakeCloud


class RecordingNotifier:
    """Records the alerts handed over by a collection, with the collection's time."""

    def __init__(self) -> None:
        self.sent = []

    def enqueue(self, session, alerts, now) -> None:
        self.sent.extend((alert, int(now.timestamp())) for alert in alerts)


@pytest.fixture
def provisioner() -> InMemoryProvisioner:
    return InMemoryProvisioner()


@pytest.fixture
def clouds() -> dict[str, FakeCloud]:
    return {"rabat-1": FakeCloud(), "casablanca-1": FakeCloud()}


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def collector(sessions, deps, clouds, notifier) -> MeteringCollector:
    return MeteringCollector(
        sessions,
        deps.catalogue,
        deps.clock,
        lambda region: clouds[region.id],
        workers=4,
        timeout=0.5,
        notifier=notifier,
    )


@pytest.fixture
def active_project(sessions, deps):
    """active_project(env, org_id, preset) -> an active project's row (factories.active_project)."""

    def make(env: str = "prod", org_id: str | None = None, preset: str = "small") -> Project:
        with transaction(sessions) as session:
            return factories.active_project(session, org_id, deps=deps, environment=env, preset=preset)

    return make
