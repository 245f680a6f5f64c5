"""Wiring for a running process (API, worker, beat): settings in, ready objects out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controlplane.billing.billing import Billing
from controlplane.billing.prices import load_price_list
from controlplane.capacity import RegionCapacity
from controlplane.capacity import read_all as read_capacity
from controlplane.clock import SystemClock
from controlplane.core import ApprovalPolicy, Core
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

        def capacity() -> list[RegionCapacity]:
            with transaction(self.sessions) as session:
                return read_capacity(session, self.catalogue)

        def programmes() -> tuple[datetime, list[ProgrammeReport]]:
            now = self.core.clock.now()
            with transaction(self.sessions) as session:
                return now, programme_report(session, self.core, now)

        return [
            CapacityCollector(capacity),
            MeteringMetrics(
                self.sessions, self.catalogue, self.core.clock, per_project=self.settings.metrics_per_project
            ),
            ProgrammeCollector(programmes),
        ]

    @cached_property
    def mailer(self) -> Mailer:
        return mailer_from_settings(self.settings)

    @cached_property
    def programme_scheduler(self) -> ProgrammeScheduler:
        """Beat's programme step: expiry notices (webhook and e-mail), expiries, shrinking."""
        return ProgrammeScheduler(self.sessions, self.core, self.mailer, email_attempts=self.settings.smtp_attempts)

    @cached_property
    def provisioner(self) -> Provisioner:
        """Workers only: the API never touches it (nor, through it, the Pulumi engine)."""
        return provisioner_from_settings(self.settings)

    @cached_property
    def vault(self) -> CredentialVault:
        return CredentialVault.from_settings(self.settings)

    @cached_property
    def metering(self) -> MeteringCollector:
        """The collection, reading each region's cloud through one reused openstacksdk connection."""
        return MeteringCollector(
            self.sessions,
            self.catalogue,
            self.core.clock,
            CachedReaders(self.settings.metering_timeout_seconds, page_size=self.settings.metering_page_size),
            workers=self.settings.metering_workers,
            timeout=self.settings.metering_timeout_seconds,
            notifier=WebhookOutbox(self.core.queue),
            retention=timedelta(days=self.settings.metering_retention_days),
            interval=timedelta(seconds=self.settings.metering_interval_seconds),
            quota_check_period=timedelta(seconds=self.settings.metering_quota_check_seconds),
            page_size=self.settings.metering_page_size,
        )

    @cached_property
    def webhook_targets(self) -> TargetPolicy:
        return TargetPolicy(self.settings.alert_webhook_allowed_targets)

    @cached_property
    def webhooks(self) -> WebhookDeliverer:
        s = self.settings
        return WebhookDeliverer(
            self.sessions,
            self.core.clock,
            self.core.queue,
            self.webhook_targets,
            DeliveryRules(
                deadline_seconds=s.alert_webhook_timeout_seconds,
                max_response_bytes=s.alert_webhook_max_response_bytes,
                attempts=s.alert_webhook_attempts,
                backoff_seconds=s.alert_webhook_backoff_seconds,
                retention=timedelta(days=s.alert_webhook_retention_days),
            ),
        )


def build_runtime(settings: Settings, queue: TaskQueue | None = None, clock: Clock | None = None) -> Runtime:
    private_directory(settings.data_dir)  # before anything creates files in it
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    regions = load_catalogue(settings.catalogue_path)
    programmes = load_programmes(settings.programmes_path, regions)
    catalogue = with_reserves(regions, programmes)  # capacity arithmetic reads the programmes' reserves here
    if queue is None:
        queue = CeleryQueue(create_celery(settings))
    core = Core(
        catalogue=catalogue,
        clock=clock or SystemClock(),
        queue=queue,
        policy=ApprovalPolicy(
            envelope=settings.auto_approve_envelope, max_pending_requests=settings.max_pending_requests_per_organisation
        ),
        billing=Billing(prices=load_price_list(settings.price_list_path), discounts=ProgrammeDiscounts()),
        programmes=programmes,
    )
    return Runtime(settings=settings, engine=engine, sessions=sessions, catalogue=catalogue, core=core)


def prepare_database(runtime: Runtime) -> None:
    """Lock rows for every catalogue region; run after migrations, at every start."""
    with transaction(runtime.sessions) as session:
        ensure_regions(session, [r.id for r in runtime.catalogue.regions])
