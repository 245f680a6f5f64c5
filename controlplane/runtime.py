"""Wiring for a running process (API, worker, beat): settings in, ready objects out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controlplane.clock import Clock, SystemClock
from controlplane.core import ApprovalPolicy, Core
from controlplane.domain.regions import Catalogue, load_catalogue
from controlplane.domain.resources import Amounts
from controlplane.metrics import CapacityCollector, MeteringMetrics
from controlplane.projects.credentials import CredentialVault
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.provisioning.protocol import Provisioner
from controlplane.provisioning.select import provisioner_from_settings
from controlplane.quota_requests.admission import ensure_regions, granted_in_region
from controlplane.settings import Settings
from controlplane.tasks.queue import TaskQueue

if TYPE_CHECKING:
    from controlplane.metering.collect import MeteringCollector


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    catalogue: Catalogue
    core: Core

    @cached_property
    def collectors(self) -> list[Collector]:
        """What /metrics reads live, besides the counters: database rows only, never a cloud."""

        def granted_by_region() -> dict[str, Amounts]:
            with transaction(self.sessions) as session:
                return {r.id: granted_in_region(session, r.id)[0] for r in self.catalogue.regions}

        return [
            CapacityCollector(self.catalogue, granted_by_region),
            MeteringMetrics(self.sessions, self.catalogue, self.core.clock, per_project=self.settings.metrics_per_project),
        ]

    @cached_property
    def provisioner(self) -> Provisioner:
        """Workers only: the API never touches it (nor, through it, the Pulumi engine)."""
        return provisioner_from_settings(self.settings)

    @cached_property
    def vault(self) -> CredentialVault:
        return CredentialVault.from_settings(self.settings)

    @cached_property
    def metering(self) -> "MeteringCollector":
        """The collection, reading each region's cloud through one reused openstacksdk connection."""
        from controlplane.metering.alerts import HttpNotifier
        from controlplane.metering.collect import MeteringCollector
        from controlplane.metering.reader import CachedReaders

        return MeteringCollector(
            self.sessions, self.catalogue, self.core.clock, CachedReaders(self.settings.metering_timeout_seconds),
            workers=self.settings.metering_workers, timeout=self.settings.metering_timeout_seconds,
            notifier=HttpNotifier(self.settings.alert_webhook_timeout_seconds),
            retention=timedelta(days=self.settings.metering_retention_days),
        )


def build_runtime(settings: Settings, queue: TaskQueue | None = None, clock: Clock | None = None) -> Runtime:
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    catalogue = load_catalogue(settings.catalogue_path)
    if queue is None:
        from controlplane.tasks.celery_app import CeleryQueue, create_celery

        queue = CeleryQueue(create_celery(settings))
    core = Core(
        catalogue=catalogue, clock=clock or SystemClock(), queue=queue,
        policy=ApprovalPolicy(envelope=settings.auto_approve_envelope), page_size_max=settings.page_size_max,
    )
    return Runtime(settings=settings, engine=engine, sessions=sessions, catalogue=catalogue, core=core)


def prepare_database(runtime: Runtime) -> None:
    """Lock rows for every catalogue region; run after migrations, at every start."""
    with transaction(runtime.sessions) as session:
        ensure_regions(session, [r.id for r in runtime.catalogue.regions])
