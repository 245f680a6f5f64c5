"""The periodic collection, in three steps.

* fetch: per region, in a bounded thread pool (each call with a timeout), the Keystone project list,
  a few all-project listings that give every project's usage (reader.LISTINGS), Neutron's quotas of
  all projects, Nova's and Cinder's quotas of the projects due for a check (schedule.py), and
  Placement's capacity. A slow or failing region never holds up the others. What has not answered
  by the deadline is an error (RegionAnswer).
* store: in one transaction, with bulk statements, per active project its latest reading, drift and a
  timestamped sample, its last usage, and errors (Project.metering_error, RegionMetering.error): a
  project whose reading failed keeps its previous values and is stored next time. The rows are worked
  out from the answers alone (plan_store) and written by the repository.
* notify: the usage thresholds crossed since the last announcement (plan_alerts), handed to the
  notifier after commit.
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
from sqlalchemy.orm import Session, sessionmaker

from controlplane.domain.regions import Catalogue
from controlplane.domain.resources import Resource
from controlplane.metering import repository
from controlplane.metering.alerts import crossings
from controlplane.metering.drift import find_drift
from controlplane.metering.reader import LISTINGS, add_usage
from controlplane.metering.schedule import QuotaCheckState, quota_checks_due
from controlplane.persistence.database import transaction
from controlplane.persistence.models import (
    MeteringRun,
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
class Target:
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
    """What one region was asked; every part a future."""

    projects: Future[dict[str, str]] | None = None
    listings: dict[str, Future[Usage]] = field(default_factory=dict)
    bulk_quotas: Future[BulkQuotas] | None = None
    quotas: dict[str, Future[dict[str, int]]] = field(default_factory=dict)  # openstack project id ->
    objects: dict[str, Future[ObjectAccount]] = field(default_factory=dict)  # openstack project id ->
    capacity: Future[CapacityReading] | None = None


@dataclass(frozen=True)
class RegionAnswer:
    """What one region answered by the deadline: each part (value, None) or (None, error text). Usage is
    the listings merged, with their errors joined (None: every listing answered)."""

    capacity: tuple[CapacityReading | None, str | None]
    projects: tuple[dict[str, str] | None, str | None] = (None, "not read")
    usage: tuple[Usage, str | None] = ({}, None)
    bulk_quotas: tuple[BulkQuotas | None, str | None] = (None, "not read")
    quotas: dict[str, tuple[dict[str, int] | None, str | None]] = field(default_factory=dict)
    objects: dict[str, tuple[ObjectAccount | None, str | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Reading:
    """One project's stored reading, as the notify step sees it."""

    target: Target
    quota: dict[str, int]
    used: dict[str, int]


@dataclass
class Store:
    """What the store step writes, worked out from the targets and the answers alone (`plan_store`)."""

    regions: dict[str, tuple[CapacityReading | None, str | None]] = field(default_factory=dict)
    inserts: list[dict[str, Any]] = field(default_factory=list)  # ProjectMetering rows, first reading
    updates: list[dict[str, Any]] = field(default_factory=list)  # ProjectMetering rows
    project_errors: list[dict[str, Any]] = field(default_factory=list)  # Project.metering_error
    project_usage: list[dict[str, Any]] = field(default_factory=list)  # Project.last_usage
    samples: list[dict[str, Any]] = field(default_factory=list)  # UsageSample rows
    readings: list[Reading] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # project id -> error
    failed_in: dict[str, str] = field(default_factory=dict)  # project id -> region
    drifts: int = 0
    read: int = 0
    unlisted_regions: dict[str, str] = field(default_factory=dict)  # region -> why its project list is missing


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
        answers = self._fetch(targets, due)
        result.timings["fetch"] = time.monotonic() - mark
        with transaction(self.sessions) as session:
            mark = time.monotonic()
            readings = self._store(session, targets, due, answers, started_at, result)
            result.timings["store"] = time.monotonic() - mark
            mark = time.monotonic()
            result.alerts = self._notify(session, readings)
            result.timings["notify"] = time.monotonic() - mark
            result.seconds = time.monotonic() - started
            repository.record_run(
                session,
                MeteringRun(
                    started_at=started_at,
                    finished_at=self.clock.now(),
                    duration_seconds=result.seconds,
                    projects=result.projects,
                    failures=len(result.failed) + len(result.regions_failed),
                    drifts=result.drifts,
                ),
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

    def _targets(self) -> list[Target]:
        with transaction(self.sessions) as session:
            return [Target(*row) for row in repository.collection_targets(session)]  # type: ignore[call-arg]

    # -- fetch ---------------------------------------------------------------
    def _fetch(self, targets: list[Target], due: set[str]) -> dict[str, RegionAnswer]:
        by_region: dict[str, list[Target]] = {}
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
        answers = {region_id: _answer(fetch, outcome) for region_id, fetch in fetched.items()}
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        return answers

    # -- store ---------------------------------------------------------------
    def _store(
        self,
        session: Session,
        targets: list[Target],
        due: set[str],
        answers: dict[str, RegionAnswer],
        started_at: datetime,
        result: CollectionResult,
    ) -> list[Reading]:
        now = self.clock.now()
        # Projects decommissioned while the cloud was read are left alone.
        plan = plan_store(targets, due, answers, repository.active_project_ids(session), now, started_at)
        for region_id, (capacity, error) in plan.regions.items():
            stored = repository.region_metering(session, region_id)
            if error or capacity is None:
                stored.error, stored.error_at = error, now
                result.regions_failed[region_id] = error or "not read"
                COLLECTION_FAILURES.labels(region_id, "capacity").inc()
            else:
                stored.capacity, stored.used, stored.measured_at, stored.error = (
                    capacity.capacity,
                    capacity.used,
                    now,
                    None,
                )
        for region_id, why in plan.unlisted_regions.items():
            log.info("region %s: project list unavailable (%s); missing projects not detected", region_id, why)
        for region_id in plan.failed_in.values():
            COLLECTION_FAILURES.labels(region_id, "project").inc()
        result.failed.update(plan.failed)
        result.drifts += plan.drifts
        result.read += plan.read
        repository.store_readings(
            session,
            inserts=plan.inserts,
            updates=plan.updates,
            project_errors=plan.project_errors,
            project_usage=plan.project_usage,
            samples=plan.samples,
        )
        if self.retention is not None:
            # Samples older than the retention are integrated into nothing any more: drop them.
            repository.drop_samples_before(session, now - self.retention)
        return plan.readings

    # -- notify --------------------------------------------------------------
    def _notify(self, session: Session, readings: list[Reading]) -> int:
        """Thresholds crossed since the last announcement: remember the levels, and hand one alert
        per crossing to the notifier, which stores its delivery in this transaction."""
        now = self.clock.now()
        levels, alerts = plan_alerts(readings, set(repository.alert_webhooks(session)), now)
        repository.store_notified(session, levels)
        if self.notifier is not None and alerts:
            self.notifier.enqueue(session, alerts, now)  # stored with this transaction, sent after commit
        return len(alerts)


def _answer(fetch: _RegionFetch, outcome: _Outcomes) -> RegionAnswer:
    """The region's futures resolved at the deadline: what did not answer in time is an error."""
    usage: Usage = {}
    failures = []
    for name, future in fetch.listings.items():
        part, error = outcome(future)
        if error:
            failures.append(f"{name}: {error}")
        else:
            for project_id, amounts in part.items():
                add_usage(usage, project_id, amounts)
    return RegionAnswer(
        capacity=outcome(fetch.capacity),
        projects=outcome(fetch.projects),
        usage=(usage, "; ".join(failures)[:2000] or None),
        bulk_quotas=outcome(fetch.bulk_quotas),
        quotas={pid: outcome(future) for pid, future in fetch.quotas.items()},
        objects={pid: outcome(future) for pid, future in fetch.objects.items()},
    )


def plan_store(
    targets: list[Target],
    due: set[str],
    answers: dict[str, RegionAnswer],
    active: set[str],
    now: datetime,
    started_at: datetime,
) -> Store:
    """The rows to write for what the regions answered: per region its capacity or its error; per active
    project its reading, drift, sample and last usage, or its error (it keeps its previous values). A
    project missing from its region's project list has drifted. Pure: no session, no clock."""
    plan = Store(regions={region_id: answer.capacity for region_id, answer in answers.items()})
    for target in targets:
        answer = answers.get(target.region_id)
        if target.project_id not in active:
            continue
        if answer is None:
            plan.project_errors.append({"id": target.project_id, "metering_error": "region not in catalogue"})
            plan.failed[target.project_id] = "region not in catalogue"
            continue
        names, names_error = answer.projects
        if names_error:
            plan.unlisted_regions.setdefault(target.region_id, names_error)
        pid = target.openstack_project_id
        missing = names is not None and pid not in names
        region_usage, usage_error = answer.usage
        bulk_quotas, bulk_error = answer.bulk_quotas
        checked, check_error = answer.quotas[pid] if target.project_id in due else (None, None)
        account, account_error = answer.objects.get(pid, (None, None))
        error = (
            usage_error
            or (bulk_error and f"quotas: {bulk_error}")
            or (check_error and f"quotas: {check_error}")
            or (account_error and f"object storage: {account_error}")
        )
        if error and not missing:
            plan.project_errors.append({"id": target.project_id, "metering_error": error})
            plan.failed[target.project_id] = error
            plan.failed_in[target.project_id] = target.region_id
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
        (plan.updates if target.has_metering else plan.inserts).append(row)
        if missing:
            row["drift"] = find_drift(target.granted, None, None, missing=True)
            plan.project_errors.append({"id": target.project_id, "metering_error": None})
            plan.drifts += 1
            continue
        assert bulk_quotas is not None  # no error: answered
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
        plan.drifts += len(row["drift"])
        plan.read += 1
        plan.project_usage.append(
            {"id": target.project_id, "last_usage": used, "last_usage_at": now, "metering_error": None}
        )
        plan.samples.append(
            {
                "project_id": target.project_id,
                "organisation_id": target.organisation_id,
                "region_id": target.region_id,
                "at": now,
                "used": used,
                "quota": quota,
            }
        )
        plan.readings.append(Reading(target, quota, used))
    return plan


def plan_alerts(
    readings: list[Reading], with_webhook: set[str], now: datetime
) -> tuple[list[dict[str, Any]], list[Alert]]:
    """The levels to remember ({project_id, notified} rows) and one alert per threshold crossed since the
    last announcement, for the organisations in `with_webhook`. Pure: no session, no clock."""
    alerts: list[Alert] = []
    levels: list[dict[str, Any]] = []
    for reading in readings:
        target, before = reading.target, reading.target.notified or {}
        notified, announce = crossings(before, reading.quota, reading.used)
        if notified != before:
            levels.append({"project_id": target.project_id, "notified": notified})
        if not announce or target.organisation_id not in with_webhook:
            continue
        for resource, threshold in announce:
            alerts.append(
                Alert(
                    target.organisation_id,
                    {
                        "type": "sahab.usage.threshold",
                        "organisation_id": target.organisation_id,
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
    return levels, alerts
