"""What /metrics shows of metering, read from the rows the last collection stored (never from a cloud):
per region the usage summed over its active projects and what of the grantable capacity it leaves
unused, Placement's capacity, drift and read errors; the requests still waiting; the last run. The
sums change only when a collection runs, so a view is reused until the next run is recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.domain.regions import Catalogue, Region
from controlplane.domain.resources import Resource
from controlplane.domain.states import TERMINAL_STATES, RequestState
from controlplane.metering import repository
from controlplane.metering.drift import KINDS
from controlplane.persistence.models import MeteringRun, QuotaRequest, RegionMetering

# The states still waiting, by name: the index on state finds the few such rows.
WAITING = [s.value for s in RequestState if s not in TERMINAL_STATES and s is not RequestState.ACTIVE]


@dataclass(frozen=True)
class UsageTotals:
    """Sums over the active projects' latest readings: usage per region, drift per (region, kind), read
    errors per region."""

    used: dict[str, dict[str, int]] = field(default_factory=dict)
    drift: dict[tuple[str, str], int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


def usage_totals(rows: list[Any]) -> UsageTotals:
    totals = UsageTotals()
    for row in rows:
        region_used = totals.used.setdefault(row.region_id, {})
        for name, value in (row.used or {}).items():
            region_used[name] = region_used.get(name, 0) + int(value)
        for item in row.drift or []:
            key = (row.region_id, item["kind"])
            totals.drift[key] = totals.drift.get(key, 0) + 1
        if row.metering_error:
            totals.errors[row.region_id] = totals.errors.get(row.region_id, 0) + 1
    return totals


@dataclass(frozen=True)
class RegionUsage:
    """One catalogue region: measured usage and what it leaves of the grantable capacity, per resource;
    Placement's (capacity, used) per resource it reported; drift per kind; projects whose read failed."""

    region: Region
    used: dict[Resource, int]
    unused: dict[Resource, int]
    placement: dict[Resource, tuple[int, int]]
    drift: dict[str, int]
    errors: int


def region_usage(region: Region, totals: UsageTotals, reading: RegionMetering | None) -> RegionUsage:
    effective = region.effective_capacity()
    measured = totals.used.get(region.id, {})
    used = {resource: measured.get(resource.value, 0) for resource in Resource}
    placement = {}
    if reading is not None and reading.capacity:
        placement = {
            Resource(name): (value, (reading.used or {}).get(name, 0)) for name, value in reading.capacity.items()
        }
    return RegionUsage(
        region,
        used,
        {resource: max(effective[resource] - used[resource], 0) for resource in Resource},
        placement,
        {kind: totals.drift.get((region.id, kind), 0) for kind in KINDS},
        totals.errors.get(region.id, 0),
    )


@dataclass(frozen=True)
class MeteringView:
    regions: list[RegionUsage]
    waiting: list[tuple[str, int, datetime]]  # (state, requests, oldest last change)
    run: MeteringRun | None
    newest_reading: datetime | None
    projects: list[Any]  # the active projects' rows (repository.active_readings), when asked for
    run_id: int | None = None
    totals: UsageTotals = field(default_factory=UsageTotals)


def read(session: Session, catalogue: Catalogue, previous: MeteringView | None, *, projects: bool) -> MeteringView:
    """The view now; the sums over the projects are `previous`'s while no collection ran since (unless
    the projects' rows are asked for)."""
    run = repository.last_run(session)
    run_id = run.id if run else None
    readings = repository.region_readings(session)
    waiting = [
        (state, count, since)
        for state, count, since in session.execute(
            select(QuotaRequest.state, func.count(), func.min(QuotaRequest.updated_at))
            .where(QuotaRequest.state.in_(WAITING))
            .group_by(QuotaRequest.state)
        )
    ]
    rows: list[Any] = []
    if projects or previous is None or previous.run_id != run_id:
        rows = repository.active_readings(session)
        totals, newest = usage_totals(rows), repository.newest_reading_at(session)
    else:
        totals, newest = previous.totals, previous.newest_reading
    return MeteringView(
        [region_usage(region, totals, readings.get(region.id)) for region in catalogue.regions],
        waiting,
        run,
        newest,
        rows,
        run_id,
        totals,
    )
