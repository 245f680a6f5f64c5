"""Wiring for a running process (API, worker, beat): settings in, ready objects out."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controlplane.clock import Clock, SystemClock
from controlplane.core import ApprovalPolicy, Core
from controlplane.domain.regions import Catalogue, load_catalogue
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.provisioning.protocol import Provisioner
from controlplane.provisioning.select import provisioner_from_settings
from controlplane.quota_requests.admission import ensure_regions
from controlplane.settings import Settings
from controlplane.tasks.queue import TaskQueue


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    catalogue: Catalogue
    core: Core

    @cached_property
    def provisioner(self) -> Provisioner:
        return provisioner_from_settings(self.settings)


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
