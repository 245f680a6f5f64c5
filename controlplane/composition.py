"""The composition roots: one per process, each building only what its process runs.

    build_foundation   settings, engine, sessions, catalogue (programme reserves merged), clock, queue,
                       the services' shared dependencies, the credential vault, the webhook targets
    build_api          + the live /metrics collectors. Never a provisioner, so never Pulumi.
    build_worker       + the provisioner, the provisioning workflow, the metering collection, webhook
                       delivery, the programme scheduler and its mailer (every task beat schedules runs here)
    build_beat         the Celery app and its schedule; beat sends task names only and builds no services

Each root names its dependencies; adapters are chosen here (Celery for the TaskQueue port, the system
clock, the provisioner the settings name), and nowhere else."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import TypeVar

from celery import Celery
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controlplane.billing.billing import Billing
from controlplane.billing.prices import load_price_list
from controlplane.capacity import RegionCapacity
from controlplane.capacity import read_all as read_capacity
from controlplane.clock import SystemClock
from controlplane.dependencies import ApprovalPolicy, ServiceDependencies
from controlplane.domain.regions import Catalogue, load_catalogue
from controlplane.mail import mailer_from_settings
from controlplane.metering.collect import MeteringCollector
from controlplane.metering.reader import CachedReaders
from controlplane.metrics import CapacityCollector, MeteringMetrics
from controlplane.persistence.database import make_engine, make_session_factory, private_directory, transaction
from controlplane.ports import Clock, Mailer, Provisioner, TaskQueue
from controlplane.programmes.catalogue import load_programmes, with_reserves
from controlplane.programmes.discounts import ProgrammeDiscounts
from controlplane.programmes.expiry import ProgrammeScheduler
from controlplane.programmes.metrics import ProgrammeCollector
from controlplane.programmes.report import ProgrammeReport
from controlplane.programmes.report import report as programme_report
from controlplane.projects.credentials import CredentialVault
from controlplane.provisioning.select import provisioner_from_settings
from controlplane.quota_requests.admission import ensure_regions
from controlplane.settings import Settings
from controlplane.tasks.celery_app import CeleryQueue, create_celery
from controlplane.webhooks.delivery import DeliveryRules, WebhookDeliverer
from controlplane.webhooks.service import WebhookOutbox
from controlplane.webhooks.targets import TargetPolicy
from controlplane.workflows.provisioning import ProvisioningWorkflow

RootT = TypeVar("RootT", bound="Foundation")


@dataclass
class Foundation:
    """What every process shares: built once per process from the settings."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    catalogue: Catalogue
    deps: ServiceDependencies

    @cached_property
    def vault(self) -> CredentialVault:
        """Seals and opens the stored project credentials (the API reads them, workers store them)."""
        return CredentialVault.from_settings(self.settings)

    @cached_property
    def webhook_targets(self) -> TargetPolicy:
        """Where an organisation's webhook may point (checked when set, and again at each delivery)."""
        return TargetPolicy(self.settings.alert_webhook_allowed_targets)

    def prepare_database(self) -> None:
        """Lock rows for every catalogue region; run after migrations, at every start."""
        with transaction(self.sessions) as session:
            ensure_regions(session, [r.id for r in self.catalogue.regions])


@dataclass
class ApiRoot(Foundation):
    """The API process: the foundation and what /metrics reads live. No provisioner, no cloud reader."""

    @cached_property
    def collectors(self) -> list[Collector]:
        """What /metrics reads live, besides the counters: database rows only, never a cloud."""

        def capacity() -> list[RegionCapacity]:
            with transaction(self.sessions) as session:
                return read_capacity(session, self.catalogue)

        def programmes() -> tuple[datetime, list[ProgrammeReport]]:
            now = self.deps.clock.now()
            with transaction(self.sessions) as session:
                return now, programme_report(session, self.deps, now)

        return [
            CapacityCollector(capacity),
            MeteringMetrics(
                self.sessions, self.catalogue, self.deps.clock, per_project=self.settings.metrics_per_project
            ),
            ProgrammeCollector(programmes),
        ]


@dataclass
class WorkerRoot(Foundation):
    """A Celery worker: provisioning, metering, webhook delivery and the periodic jobs beat sends."""

    @cached_property
    def provisioner(self) -> Provisioner:
        return provisioner_from_settings(self.settings)

    def workflow(self, worker_id: str) -> ProvisioningWorkflow:
        """The worker id is the Celery node name (e.g. worker1@host): a restarted worker with the same
        name takes its own leases back at once; other workers wait for them to expire."""
        return ProvisioningWorkflow(
            self.sessions,
            self.deps,
            self.provisioner,
            worker_id=worker_id,
            lease_seconds=self.settings.lease_seconds,
            vault=self.vault,
        )

    @cached_property
    def metering(self) -> MeteringCollector:
        """The collection, reading each region's cloud through one reused openstacksdk connection."""
        s = self.settings
        return MeteringCollector(
            self.sessions,
            self.catalogue,
            self.deps.clock,
            CachedReaders(s.metering_timeout_seconds, page_size=s.metering_page_size),
            workers=s.metering_workers,
            timeout=s.metering_timeout_seconds,
            notifier=WebhookOutbox(self.deps.queue),
            retention=timedelta(days=s.metering_retention_days),
            interval=timedelta(seconds=s.metering_interval_seconds),
            quota_check_period=timedelta(seconds=s.metering_quota_check_seconds),
            page_size=s.metering_page_size,
        )

    @cached_property
    def webhooks(self) -> WebhookDeliverer:
        s = self.settings
        return WebhookDeliverer(
            self.sessions,
            self.deps.clock,
            self.deps.queue,
            self.webhook_targets,
            DeliveryRules(
                deadline_seconds=s.alert_webhook_timeout_seconds,
                max_response_bytes=s.alert_webhook_max_response_bytes,
                attempts=s.alert_webhook_attempts,
                backoff_seconds=s.alert_webhook_backoff_seconds,
                retention=timedelta(days=s.alert_webhook_retention_days),
            ),
        )

    @cached_property
    def mailer(self) -> Mailer:
        return mailer_from_settings(self.settings)

    @cached_property
    def programme_scheduler(self) -> ProgrammeScheduler:
        """Expiry notices (webhook and e-mail), expiries, shrinking."""
        return ProgrammeScheduler(self.sessions, self.deps, self.mailer, email_attempts=self.settings.smtp_attempts)


def build_foundation(settings: Settings, queue: TaskQueue | None = None, clock: Clock | None = None) -> Foundation:
    private_directory(settings.data_dir)  # before anything creates files in it
    engine = make_engine(settings.database_url)
    regions = load_catalogue(settings.catalogue_path)
    programmes = load_programmes(settings.programmes_path, regions)
    catalogue = with_reserves(regions, programmes)  # capacity arithmetic reads the programmes' reserves here
    deps = ServiceDependencies(
        catalogue=catalogue,
        clock=clock or SystemClock(),
        queue=queue or CeleryQueue(create_celery(settings)),
        policy=ApprovalPolicy(
            envelope=settings.auto_approve_envelope, max_pending_requests=settings.max_pending_requests_per_organisation
        ),
        billing=Billing(prices=load_price_list(settings.price_list_path), discounts=ProgrammeDiscounts()),
        programmes=programmes,
    )
    return Foundation(
        settings=settings, engine=engine, sessions=make_session_factory(engine), catalogue=catalogue, deps=deps
    )


def _on(root: type[RootT], foundation: Foundation) -> RootT:
    return root(**{f.name: getattr(foundation, f.name) for f in dataclasses.fields(Foundation)})


def api_root(foundation: Foundation) -> ApiRoot:
    """The API's root over an existing foundation (its engine and sessions are shared)."""
    return _on(ApiRoot, foundation)


def worker_root(foundation: Foundation) -> WorkerRoot:
    """A worker's root over an existing foundation (its engine and sessions are shared)."""
    return _on(WorkerRoot, foundation)


def build_api(settings: Settings, queue: TaskQueue | None = None, clock: Clock | None = None) -> ApiRoot:
    return api_root(build_foundation(settings, queue, clock))


def build_worker(settings: Settings, queue: TaskQueue | None = None, clock: Clock | None = None) -> WorkerRoot:
    return worker_root(build_foundation(settings, queue, clock))


def build_beat(settings: Settings) -> Celery:
    """Beat's whole root: the Celery app with its schedule (controlplane.tasks.celery_app)."""
    return create_celery(settings)
