"""The periodic collection: for every active project, quota and usage from its region's cloud;
for every region, capacity from Placement. Calls run in a bounded thread pool per region, each
with a timeout, so a slow or failing region (or project) never holds up the others: its error is
recorded (Project.metering_error, RegionMetering.error) while the rest is stored."""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from controlplane.clock import Clock
from controlplane.domain.regions import Catalogue
from controlplane.domain.states import ProjectState
from controlplane.metering.alerts import Alert, Notifier, crossings
from controlplane.metering.drift import find_drift
from controlplane.metering.reader import CapacityReading, ProjectReading, ReaderFactory
from controlplane.persistence.database import transaction
from controlplane.persistence.models import (
    MeteringRun, Organisation, Project, ProjectMetering, RegionMetering, UsageSample,
)

log = logging.getLogger(__name__)

COLLECTION_DURATION = Histogram(
    "sahab_metering_collection_duration_seconds", "Duration of metering collections.",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
)
COLLECTION_FAILURES = Counter(
    "sahab_metering_failures_total", "Projects or regions a metering collection could not read.", ["region", "scope"],
)


@dataclass
class CollectionResult:
    projects: int = 0
    read: int = 0
    failed: dict[str, str] = field(default_factory=dict)    # project id -> error
    regions_failed: dict[str, str] = field(default_factory=dict)
    drifts: int = 0
    alerts: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Target:
    project_id: str
    organisation_id: str
    region_id: str
    openstack_project_id: str
    granted: dict[str, int]


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


class MeteringCollector:
    def __init__(self, sessions: sessionmaker[Session], catalogue: Catalogue, clock: Clock, readers: ReaderFactory,
                 *, workers: int = 8, timeout: float = 30.0, notifier: Notifier | None = None,
                 retention: timedelta | None = None) -> None:
        self.sessions = sessions
        self.catalogue = catalogue
        self.clock = clock
        self.readers = readers
        self.workers = workers
        self.timeout = timeout
        self.notifier = notifier
        self.retention = retention

    def _targets(self) -> list[_Target]:
        with transaction(self.sessions) as session:
            rows = session.execute(select(
                Project.id, Project.organisation_id, Project.region_id, Project.openstack_project_id, Project.granted,
            ).where(Project.state == ProjectState.ACTIVE.value, Project.openstack_project_id.is_not(None)))
            return [_Target(*row) for row in rows]

    def collect(self) -> CollectionResult:
        started_at, started = self.clock.now(), time.monotonic()
        targets = self._targets()
        result = CollectionResult(projects=len(targets))
        by_region: dict[str, list[_Target]] = {}
        for target in targets:
            by_region.setdefault(target.region_id, []).append(target)

        pools: list[ThreadPoolExecutor] = []
        readings: dict[str, Future[ProjectReading]] = {}
        existing: dict[str, Future[set[str]]] = {}
        capacities: dict[str, Future[CapacityReading]] = {}
        rounds = 1
        for region in self.catalogue.regions:
            # A pool per region: a region whose calls hang fills only its own threads.
            pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"meter-{region.id}")
            pools.append(pool)
            reader = self.readers(region)
            capacities[region.id] = pool.submit(reader.read_capacity)
            mine = by_region.get(region.id, [])
            if mine:
                existing[region.id] = pool.submit(reader.project_ids, region.domain_id)
            for target in mine:
                readings[target.project_id] = pool.submit(reader.read_project, target.openstack_project_id)
            rounds = max(rounds, math.ceil((len(mine) + 2) / self.workers))
        # Each call has its own timeout (api_timeout); this bounds the whole wait even if one does not.
        deadline = self.timeout * (rounds + 1)
        everything: list[Future[Any]] = [*readings.values(), *existing.values(), *capacities.values()]
        wait(everything, timeout=deadline)
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)

        def outcome(future: Future[Any]) -> tuple[Any, str | None]:
            if not future.done():
                future.cancel()
                return None, f"TimeoutError: no answer within {deadline:.0f}s"
            error = future.exception()
            return (None, _error(error)) if error else (future.result(), None)

        now = self.clock.now()
        alerts: list[Alert] = []
        with transaction(self.sessions) as session:
            for region in self.catalogue.regions:
                capacity, error = outcome(capacities[region.id])
                row = session.get(RegionMetering, region.id) or RegionMetering(region_id=region.id)
                session.add(row)
                if error:
                    row.error, row.error_at = error, now
                    result.regions_failed[region.id] = error
                    COLLECTION_FAILURES.labels(region.id, "capacity").inc()
                else:
                    row.capacity, row.used, row.measured_at, row.error = capacity.capacity, capacity.used, now, None
            organisations = {o.id: o for o in session.scalars(select(Organisation).where(
                Organisation.id.in_({t.organisation_id for t in targets})))}
            for region_id, mine in by_region.items():
                ids, ids_error = outcome(existing[region_id]) if region_id in existing else (None, "region not in catalogue")
                for target in mine:
                    project = session.get(Project, target.project_id)
                    if project is None or project.state != ProjectState.ACTIVE.value:
                        continue  # decommissioned meanwhile
                    metering = session.get(ProjectMetering, target.project_id) or ProjectMetering(
                        project_id=target.project_id, notified={})
                    session.add(metering)
                    reading, error = outcome(readings[target.project_id])
                    missing = ids is not None and target.openstack_project_id not in ids
                    if error and not missing:
                        project.metering_error = error
                        result.failed[target.project_id] = error
                        COLLECTION_FAILURES.labels(region_id, "project").inc()
                        continue
                    project.metering_error = None
                    metering.missing = missing
                    metering.measured_at = now
                    if missing:
                        metering.quota = metering.used = None
                        metering.drift = find_drift(project.granted, None, None, missing=True)
                        result.drifts += 1
                        continue
                    result.read += 1
                    metering.quota, metering.used = reading.quota, reading.used
                    metering.drift = find_drift(project.granted, reading.quota, reading.used, missing=False)
                    result.drifts += len(metering.drift)
                    project.last_usage, project.last_usage_at = dict(reading.used), now
                    session.add(UsageSample(project_id=project.id, organisation_id=project.organisation_id,
                                            region_id=project.region_id, at=now, used=reading.used, quota=reading.quota))
                    metering.notified, announce = crossings(metering.notified or {}, reading.quota, reading.used)
                    organisation = organisations.get(project.organisation_id)
                    if announce and organisation is not None and organisation.alert_webhook_url and organisation.alert_webhook_secret:
                        for resource, threshold in announce:
                            alerts.append(Alert(organisation.id, {
                                "type": "sahab.usage.threshold", "organisation_id": organisation.id,
                                "project_id": project.id, "region_id": project.region_id,
                                "environment": project.environment, "resource": resource, "threshold": threshold,
                                "used": reading.used.get(resource, 0), "quota": reading.quota[resource],
                                "at": now.isoformat(),
                            }))
                if ids_error:
                    log.info("region %s: project list unavailable (%s); missing projects not detected", region_id, ids_error)
            if self.retention is not None:
                # Samples older than the retention are integrated into nothing any more: drop them.
                session.execute(delete(UsageSample).where(UsageSample.at < now - self.retention))
            result.alerts = len(alerts)
            result.seconds = time.monotonic() - started
            session.add(MeteringRun(started_at=started_at, finished_at=self.clock.now(), duration_seconds=result.seconds,
                                    projects=result.projects, failures=len(result.failed) + len(result.regions_failed),
                                    drifts=result.drifts))
            if self.notifier is not None and alerts:
                self.notifier.enqueue(session, alerts, now)  # stored with this transaction, sent after commit
        COLLECTION_DURATION.observe(result.seconds)
        log.info("metering: %d projects, %d read, %d failed, %d regions failed, %d drift(s), %.2fs",
                 result.projects, result.read, len(result.failed), len(result.regions_failed), result.drifts, result.seconds)
        return result
