"""Usage over a period, from the samples: each sample's value holds until the next one (a step
function), so resource-hours are exact sums of value x duration. Grouped per project, region or
organisation; a group's peak is the peak of the group's summed usage, not a sum of peaks."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from controlplane.domain.principal import Principal
from controlplane.domain.resources import Resource
from controlplane.domain.states import ProjectState
from controlplane.metering import repository
from controlplane.metering.repository import Carried, Points, load_points
from controlplane.persistence.models import Project

GroupBy = Literal["project", "region", "organisation"]
RESOURCES = [r.value for r in Resource]


@dataclass
class Series:
    """Points (time, values) sorted by time; values hold until the next point."""

    points: list[tuple[datetime, dict[str, int]]]


def project_series(
    carried: tuple[datetime, dict[str, int]] | None, samples: list[tuple[datetime, dict[str, int]]], start: datetime
) -> Series:
    points = []
    if carried is not None:
        points.append((start, carried[1]))
    points.extend((at, used) for at, used in samples if at >= start)
    return Series(points)


def sum_series(series: list[Series]) -> Series:
    """The pointwise sum of several step functions (each is 0 before its first point)."""
    events: dict[datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for one in series:
        previous: dict[str, int] = {}
        for at, values in one.points:
            for name in RESOURCES:
                delta = values.get(name, 0) - previous.get(name, 0)
                if delta:
                    events[at][name] += delta
            events[at]  # a point with no change still marks coverage
            previous = values
    total: dict[str, int] = {name: 0 for name in RESOURCES}
    points = []
    for at in sorted(events):
        for name, delta in events[at].items():
            total[name] += delta
        points.append((at, dict(total)))
    return Series(points)


MICROSECOND = timedelta(microseconds=1)


def statistics(series: Series, end: datetime) -> dict[str, Any]:
    """Per resource: the integral (exactly, in unit-microseconds, and as float unit-seconds), peak,
    average over the covered time. Billing prices the exact integral (controlplane.billing)."""
    stats: dict[str, dict[str, Any]] = {}
    points = [(at, values) for at, values in series.points if at < end]
    covered = (end - points[0][0]).total_seconds() if points else 0.0
    for name in RESOURCES:
        integral, peak = 0, 0
        for index, (at, values) in enumerate(points):
            until = points[index + 1][0] if index + 1 < len(points) else end
            value = values.get(name, 0)
            integral += value * ((until - at) // MICROSECOND)
            peak = max(peak, value)
        seconds = integral / 1_000_000
        stats[name] = {
            "unit_seconds": seconds,
            "unit_microseconds": integral,
            "peak": peak,
            "average": seconds / covered if covered else 0.0,
        }
    return {"resources": stats, "covered_seconds": covered, "samples": len(points)}


def _visible_points(
    session: Session,
    principal: Principal,
    start: datetime,
    end: datetime,
    now: datetime,
    organisation_id: str | None,
    region: str | None,
) -> tuple[dict[str, Project], Points, Carried]:
    """The projects the principal may see that existed before `end`, with their samples in the period."""
    visible = repository.visible_projects(
        session, principal, organisation_id=organisation_id, region=region, created_before=end
    )
    projects = {p.id: p for p in visible}
    samples, carried = load_points(session, list(projects), start, min(end, now))
    return projects, samples, carried


def usage_report(
    session: Session,
    principal: Principal,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    by: GroupBy = "project",
    organisation_id: str | None = None,
    region: str | None = None,
) -> list[dict[str, Any]]:
    projects, samples, carried = _visible_points(session, principal, start, end, now, organisation_id, region)
    effective_end = min(end, now)

    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for project in projects.values():
        if (
            project.id not in samples
            and project.id not in carried
            and project.state == ProjectState.DECOMMISSIONED.value
        ):
            continue  # gone before the period and never measured in it
        key: tuple[str, ...] = {
            "project": (project.id,),
            "region": (project.region_id,),
            "organisation": (project.organisation_id,),
        }[by]
        groups[key].append(project.id)

    report = []
    for _key, members in sorted(groups.items()):
        series = [project_series(carried.get(pid), samples.get(pid, []), start) for pid in members]
        stats = statistics(series[0] if len(series) == 1 else sum_series(series), effective_end)
        granted = {name: sum(int((projects[pid].granted or {}).get(name, 0)) for pid in members) for name in RESOURCES}
        resources = {
            name: {
                "granted": granted[name],
                "peak": s["peak"],
                "average": round(s["average"], 4),
                "unit_hours": round(s["unit_seconds"] / 3600, 4),
            }
            for name, s in stats["resources"].items()
        }
        first = projects[members[0]]
        row: dict[str, Any] = {
            "by": by,
            "from": start,
            "to": end,
            "project_id": first.id if by == "project" else None,
            "organisation_id": first.organisation_id if by in ("project", "organisation") else None,
            "region_id": first.region_id if by in ("project", "region") else None,
            "environment": first.environment if by == "project" else None,
            "projects": len(members),
            "samples": sum(len(samples.get(pid, [])) for pid in members),
            "vcpu_hours": resources["vcpus"]["unit_hours"],
            "ram_gib_hours": round(resources["ram_mib"]["unit_hours"] / 1024, 4),
            "volume_gib_hours": resources["volume_gib"]["unit_hours"],
            "object_gib_hours": resources["object_gib"]["unit_hours"],
            "resources": resources,
        }
        report.append(row)
    return report


def bucket_size(start: datetime, end: datetime) -> timedelta:
    """Hours for a period of up to two days, days for anything longer (at most 366 points a year)."""
    return timedelta(hours=1) if end - start <= timedelta(days=2) else timedelta(days=1)


def between(series: Series, times: list[datetime], start: datetime, end: datetime) -> Series:
    """The step function on [start, end): from `start` with the value that held then (if any).
    `times` are the series' point times, for bisecting (each bucket costs its own points only)."""
    first, last = bisect_right(times, start), bisect_left(times, end)
    held = [(start, series.points[first - 1][1])] if first else []
    return Series(held + series.points[first:last])


def usage_over_time(
    session: Session,
    principal: Principal,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    step: timedelta | None = None,
    organisation_id: str | None = None,
    region: str | None = None,
) -> list[dict[str, Any]]:
    """The usage of every project the principal may see, summed, in consecutive buckets of `step`
    (bucket_size by default), cut at whole steps since the epoch (hours, UTC days): per bucket the
    resource-hours, peak and average, by the same samples and arithmetic as usage_report. Nothing
    after `now`."""
    step = step or bucket_size(start, end)
    projects, samples, carried = _visible_points(session, principal, start, end, now, organisation_id, region)
    total = sum_series([project_series(carried.get(pid), samples.get(pid, []), start) for pid in projects])
    times = [at for at, _ in total.points]
    buckets = []
    at = start
    while at < min(end, now):
        until = min(_next_boundary(at, step), end, now)
        stats = statistics(between(total, times, at, until), until)
        resources = {
            name: {
                "peak": s["peak"],
                "average": round(s["average"], 4),
                "unit_hours": round(s["unit_seconds"] / 3600, 4),
            }
            for name, s in stats["resources"].items()
        }
        buckets.append(
            {
                "from": at,
                "to": until,
                "vcpu_hours": resources["vcpus"]["unit_hours"],
                "ram_gib_hours": round(resources["ram_mib"]["unit_hours"] / 1024, 4),
                "volume_gib_hours": resources["volume_gib"]["unit_hours"],
                "object_gib_hours": resources["object_gib"]["unit_hours"],
                "resources": resources,
            }
        )
        at = until
    return buckets


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _next_boundary(at: datetime, step: timedelta) -> datetime:
    """The next whole step (hour, UTC day) after `at`: buckets line up with the clock and the calendar
    whatever time the period starts at; the first and last may be partial."""
    return at + (step - (at - EPOCH) % step)
