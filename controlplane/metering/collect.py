"""The periodic collection, in three steps.

* fetch: per region, in a bounded thread pool (each call with a timeout), the Keystone project list,
  a few all-project listings that give every project's usage (reader.LISTINGS), Neutron's quotas of
  all projects, Nova's and Cinder's quotas of the projects due for a check (schedule.py), and
  Placement's capacity. A slow or failing region never holds up the others.
* store: in one transaction, with bulk statements, per active project its latest reading, drift and a
  timestamped sample, its last usage, and errors (Project.metering_error, RegionMetering.error): a
  project whose reading failed keeps its previous values and is stored next time.
* notify: the usage thresholds crossed since the last announcement, handed to the notifier after commit.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from controlplane.domain.regions import Catalogue
from controlplane.domain.resources import Resource
from controlplane.domain.states import ProjectState
from controlplane.metering.alerts import crossings
from controlplane.metering.drift import find_drift
from controlplane.metering.reader import LISTINGS, add_usage
from controlplane.metering.schedule import QuotaCheckState, quota_checks_due
from controlplane.persistence.database import transaction
from controlplane.persistence.models import (
    MeteringRun,
    Organisation,
    Project,
    ProjectMetering,
    RegionMetering,
    UsageSample,
)
from controlplane.ports import Alert, BulkQuotas, CapacityReading, Clock, Notifier, ObjectAccount, ReaderFactory, Usage

log = logging.getLogger(__name__)
RESOURCE_NAMES = tuple(r.value for r in Resource)
OBJECT_GIB = Resource.OBJECT_GIB.value  # read per project: the enum's properties are slow

COLLECTION_DURATION = Histogram(
    "sahab_metering_collection_duration_seconds",
    "Duration of metering collections.",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
)
COLLECTION_FAILURES = Counter(
    "sahab_metering_failures_total",
    "Projects or regions a metering collection could not read.",
    ["region", "scope"],
)


@dataclass
class CollectionResult:
    projects: int = 0
    read: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # project id -> error
    regions_failed: dict[str, str] = field(default_factory=dict)
    drifts: int = 0
    alerts: int = 0
    quota_checks: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds


@dataclass(frozen=True)
class _Target:
    """An active project as the collection found it, with its latest reading."""

    project_id: str
    organisation_id: str
    region_id: str
    environment: str
    openstack_project_id: str
    granted: dict[str, int]
    updated_at: datetime
    has_metering: bool
    quota: dict[str, int] | None
    quota_checked_at: datetime | None
    notified: dict[str, int] | None
    openstack_project_name: str | None


@dataclass
class _RegionFetch:
    """What one region answered; every part either a value or an error."""

    projects: Future[dict[str, str]] | None = None
    listings: dict[str, Future[Usage]] = field(default_factory=dict)
    bulk_quotas: Future[BulkQuotas] | None = None
    quotas: dict[str, Future[dict[str, int]]] = field(default_factory=dict)  # openstack project id ->
    objects: dict[str, Future[ObjectAccount]] = field(default_factory=dict)  # openstack project id ->
    capacity: Future[CapacityReading] | None = None


@dataclass(frozen=True)
class Reading:
    """One project's stored reading, as the notify step sees it."""

    target: _Target
    quota: dict[str, int]
    used: dict[str, int]


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


class _Outcomes:
    """The futures' results after the deadline: (value, None) or (None, error text)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, future: Future[Any] | None) -> tuple[Any, str | None]:
        if future is None:
            return None, "not read"
        if not future.done():
            future.cancel()
            return None, f"TimeoutError: no answer within {self.deadline:.0f}s"
        error = future.exception()
        return (None, _error(error)) if error else (future.result(), None)


class MeteringCollector:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        catalogue: Catalogue,
        clock: Clock,
        readers: ReaderFactory,
        *,
        workers: int = 8,
        timeout: float = 30.0,
        notifier: Notifier | None = None,
        retention: timedelta | None = None,
        interval: timedelta = timedelta(minutes=5),
        quota_check_period: timedelta = timedelta(hours=1),
        page_size: int = 1000,
    ) -> None:
        self.sessions = sessions
        self.catalogue = catalogue
        self.clock = clock
        self.readers = readers
        self.workers = workers
        self.timeout = timeout
        self.notifier = notifier
        self.retention = retention
        self.interval = interval
        self.quota_check_period = quota_check_period
        self.page_size = page_size

    def collect(self) -> CollectionResult:
        started_at, started = self.clock.now(), time.monotonic()
        targets = self._targets()
        due = quota_checks_due(
            (QuotaCheckState(t.project_id, t.updated_at, t.quota_checked_at) for t in targets),
            started_at,
            period=self.quota_check_period,
            interval=self.interval,
        )
        result = CollectionResult(projects=len(targets), quota_checks=len(due))
        mark = time.monotonic()
        fetched, outcome = self._fetch(targets, due)
        result.timings["fetch"] = time.monotonic() - mark
        with transaction(self.sessions) as session:
            mark = time.monotonic()
            readings = self._store(session, targets, due, fetched, outcome, started_at, result)
            result.timings["store"] = time.monotonic() - mark
            mark = time.monotonic()
            result.alerts = self._notify(session, readings)
            result.timings["notify"] = time.monotonic() - mark
            result.seconds = time.monotonic() - started
            session.add(
                MeteringRun(
                    started_at=started_at,
                    finished_at=self.clock.now(),
                    duration_seconds=result.seconds,
                    projects=result.projects,
                    failures=len(result.failed) + len(result.regions_failed),
                    drifts=result.drifts,
                )
            )
        COLLECTION_DURATION.observe(result.seconds)
        log.info(
            "metering: %d projects, %d read, %d quota checks, %d failed, %d regions failed, %d drift(s), %.2fs",
            result.projects,
            result.read,
            result.quota_checks,
            len(result.failed),
            len(result.regions_failed),
            result.drifts,
            result.seconds,
        )
        return result

    def _targets(self) -> list[_Target]:
        with transaction(self.sessions) as session:
            rows = session.execute(
                select(
                    Project.id,
                    Project.organisation_id,
                    Project.region_id,
                    Project.environment,
                    Project.openstack_project_id,
                    Project.granted,
                    Project.updated_at,
                    ProjectMetering.project_id.is_not(None),
                    ProjectMetering.quota,
                    ProjectMetering.quota_checked_at,
                    ProjectMetering.notified,
                    ProjectMetering.openstack_project_name,
                )
                .outerjoin(ProjectMetering, ProjectMetering.project_id == Project.id)
                .where(Project.state == ProjectState.ACTIVE.value, Project.openstack_project_id.is_not(None))
            )
            return [_Target(*row) for row in rows]  # type: ignore[arg-type, call-arg]

    # -- fetch ---------------------------------------------------------------
    def _fetch(self, targets: list[_Target], due: set[str]) -> tuple[dict[str, _RegionFetch], _Outcomes]:
        by_region: dict[str, list[_Target]] = {}
        for target in targets:
            by_region.setdefault(target.region_id, []).append(target)
        pools: list[ThreadPoolExecutor] = []
        fetched: dict[str, _RegionFetch] = {}
        rounds = 1
        for region in self.catalogue.regions:
            # A pool per region: a region whose calls hang fills only its own threads.
            pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"meter-{region.id}")
            pools.append(pool)
            reader = self.readers(region)
            fetch = fetched[region.id] = _RegionFetch(capacity=pool.submit(reader.read_capacity))
            mine = by_region.get(region.id, [])
            if mine:
                fetch.projects = pool.submit(reader.projects, region.domain_id)
                fetch.bulk_quotas = pool.submit(reader.read_bulk_quotas)
                fetch.listings = {listing.name: pool.submit(reader.read_usage, listing.name) for listing in LISTINGS}
                fetch.quotas = {
                    t.openstack_project_id: pool.submit(reader.read_quota, t.openstack_project_id)
                    for t in mine
                    if t.project_id in due
                }
                if region.has_object_storage:
                    # Swift lists no accounts in bulk: one HEAD per project, every collection (it
                    # carries quota and usage at once), in the same bounded pool and deadline.
                    fetch.objects = {
                        t.openstack_project_id: pool.submit(reader.read_object_account, t.openstack_project_id)
                        for t in mine
                    }
            pages = len(LISTINGS) * math.ceil(len(mine) / self.page_size)
            calls = len(fetch.quotas) + len(fetch.objects) + len(LISTINGS) + pages + 3
            rounds = max(rounds, math.ceil(calls / self.workers))
        # Each call has its own timeout (api_timeout); this bounds the whole wait even if one does not.
        outcome = _Outcomes(self.timeout * (rounds + 1))
        everything: list[Future[Any]] = [
            f
            for fetch in fetched.values()
            for f in (
                fetch.projects,
                fetch.bulk_quotas,
                fetch.capacity,
                *fetch.listings.values(),
                *fetch.quotas.values(),
                *fetch.objects.values(),
            )
            if f
        ]
        wait(everything, timeout=outcome.deadline)
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        return fetched, outcome

    # -- store ---------------------------------------------------------------
    def _store(
        self,
        session: Session,
        targets: list[_Target],
        due: set[str],
        fetched: dict[str, _RegionFetch],
        outcome: _Outcomes,
        started_at: datetime,
        result: CollectionResult,
    ) -> list[Reading]:
        now = self.clock.now()
        for region in self.catalogue.regions:
            capacity, error = outcome(fetched[region.id].capacity)
            stored = session.get(RegionMetering, region.id) or RegionMetering(region_id=region.id)
            session.add(stored)
            if error:
                stored.error, stored.error_at = error, now
                result.regions_failed[region.id] = error
                COLLECTION_FAILURES.labels(region.id, "capacity").inc()
            else:
                stored.capacity, stored.used, stored.measured_at, stored.error = (
                    capacity.capacity,
                    capacity.used,
                    now,
                    None,
                )

        usage: dict[str, tuple[Usage, str | None]] = {}
        for region_id, fetch in fetched.items():
            merged: Usage = {}
            failures = []
            for name, future in fetch.listings.items():
                part, error = outcome(future)
                if error:
                    failures.append(f"{name}: {error}")
                else:
                    for project_id, amounts in part.items():
                        add_usage(merged, project_id, amounts)
            usage[region_id] = merged, "; ".join(failures)[:2000] or None

        # Projects decommissioned while the cloud was read are left alone.
        active = set(session.scalars(select(Project.id).where(Project.state == ProjectState.ACTIVE.value)))
        metering_updates: list[dict[str, Any]] = []
        metering_inserts: list[dict[str, Any]] = []
        metering_errors: list[dict[str, Any]] = []
        project_usage: list[dict[str, Any]] = []
        samples: list[dict[str, Any]] = []
        readings: list[Reading] = []
        logged: set[str] = set()
        for target in targets:
            region_fetch = fetched.get(target.region_id)
            if target.project_id not in active:
                continue
            if region_fetch is None:
                metering_errors.append({"id": target.project_id, "metering_error": "region not in catalogue"})
                result.failed[target.project_id] = "region not in catalogue"
                continue
            names, names_error = outcome(region_fetch.projects)
            if names_error and target.region_id not in logged:
                logged.add(target.region_id)
                log.info(
                    "region %s: project list unavailable (%s); missing projects not detected",
                    target.region_id,
                    names_error,
                )
            pid = target.openstack_project_id
            missing = names is not None and pid not in names
            region_usage, usage_error = usage[target.region_id]
            bulk_quotas, bulk_error = outcome(region_fetch.bulk_quotas)
            checked, check_error = outcome(region_fetch.quotas[pid]) if target.project_id in due else (None, None)
            account, account_error = outcome(region_fetch.objects[pid]) if pid in region_fetch.objects else (None, None)
            error = (
                usage_error
                or (bulk_error and f"quotas: {bulk_error}")
                or (check_error and f"quotas: {check_error}")
                or (account_error and f"object storage: {account_error}")
            )
            if error and not missing:
                metering_errors.append({"id": target.project_id, "metering_error": error})
                result.failed[target.project_id] = error
                COLLECTION_FAILURES.labels(target.region_id, "project").inc()
                continue
            row: dict[str, Any] = {
                "project_id": target.project_id,
                "measured_at": now,
                "missing": missing,
                "openstack_project_name": names.get(pid) if names is not None else target.openstack_project_name,
                "quota_checked_at": target.quota_checked_at,
                "quota": None,
                "used": None,
            }
            (metering_updates if target.has_metering else metering_inserts).append(row)
            if missing:
                row["drift"] = find_drift(target.granted, None, None, missing=True)
                metering_errors.append({"id": target.project_id, "metering_error": None})
                result.drifts += 1
                continue
            quota = {**(target.quota or {}), **(checked or {}), **bulk_quotas.of(pid)}
            mine = region_usage.get(pid, {})
            if account is not None:
                quota[OBJECT_GIB] = account.quota_gib
                mine = {**mine, OBJECT_GIB: account.used_gib}
            used = {name: mine.get(name, 0) for name in RESOURCE_NAMES}
            if checked is not None:
                row["quota_checked_at"] = started_at  # a change made while it was read is newer: checked again
            row["quota"], row["used"] = quota, used
            row["drift"] = find_drift(target.granted, quota, used, missing=False)
            result.drifts += len(row["drift"])
            result.read += 1
            project_usage.append(
                {"id": target.project_id, "last_usage": used, "last_usage_at": now, "metering_error": None}
            )
            samples.append(
                {
                    "project_id": target.project_id,
                    "organisation_id": target.organisation_id,
                    "region_id": target.region_id,
                    "at": now,
                    "used": used,
                    "quota": quota,
                }
            )
            readings.append(Reading(target, quota, used))
        if metering_inserts:
            session.execute(insert(ProjectMetering), [{**row, "notified": {}} for row in metering_inserts])
        for rows in (metering_updates, metering_errors, project_usage):
            if rows:
                session.execute(update(ProjectMetering if rows is metering_updates else Project), rows)
        if samples:
            session.execute(insert(UsageSample), samples)
        if self.retention is not None:
            # Samples older than the retention are integrated into nothing any more: drop them.
            session.execute(delete(UsageSample).where(UsageSample.at < now - self.retention))
        return readings

    # -- notify --------------------------------------------------------------
    def _notify(self, session: Session, readings: list[Reading]) -> int:
        """Thresholds crossed since the last announcement: remember the levels, and hand one alert
        per crossing to the notifier, which stores its delivery in this transaction."""
        now = self.clock.now()
        webhooks = {
            o.id: o
            for o in session.scalars(
                select(Organisation).where(
                    Organisation.alert_webhook_url.is_not(None), Organisation.alert_webhook_secret.is_not(None)
                )
            )
        }
        alerts: list[Alert] = []
        levels: list[dict[str, Any]] = []
        for reading in readings:
            target, before = reading.target, reading.target.notified or {}
            notified, announce = crossings(before, reading.quota, reading.used)
            if notified != before:
                levels.append({"project_id": target.project_id, "notified": notified})
            organisation = webhooks.get(target.organisation_id)
            if not announce or organisation is None:
                continue
            for resource, threshold in announce:
                alerts.append(
                    Alert(
                        organisation.id,
                        {
                            "type": "sahab.usage.threshold",
                            "organisation_id": organisation.id,
                            "project_id": target.project_id,
                            "region_id": target.region_id,
                            "environment": target.environment,
                            "resource": resource,
                            "threshold": threshold,
                            "used": reading.used.get(resource, 0),
                            "quota": reading.quota[resource],
                            "at": now.isoformat(),
                        },
                    )
                )
        if levels:
            session.execute(update(ProjectMetering), levels)
        if self.notifier is not None and alerts:
            self.notifier.enqueue(session, alerts, now)  # stored with this transaction, sent after commit
        return len(alerts)
