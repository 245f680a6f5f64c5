"""Which projects' Nova and Cinder quotas a collection reads (one call per service and project: no
API lists them for all projects). Usage and Neutron quotas are read in bulk every collection; these
quotas only matter for drift, so each project is checked at least once per `period`, spread evenly
over the collections in between, and at once when Sahab has changed the project since its last check
(the project's `updated_at` moves when its stack is applied, so a granted change is confirmed on the
next collection)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class QuotaCheckState:
    project_id: str
    updated_at: datetime
    quota_checked_at: datetime | None


def quota_checks_due(
    projects: Iterable[QuotaCheckState], now: datetime, *, period: timedelta, interval: timedelta
) -> set[str]:
    """The projects to check now: every project never checked or changed by Sahab since its check, or
    whose check would be older than `period` at the next collection (`interval` from now); then the
    longest unchecked ones up to this collection's even share, len(projects) * interval / period."""
    projects = list(projects)
    share = math.ceil(len(projects) * interval / period) if period > timedelta(0) else len(projects)
    too_old_next_time = now - period + interval
    due: set[str] = set()
    others: list[QuotaCheckState] = []
    for project in projects:
        checked = project.quota_checked_at
        if checked is None or checked < project.updated_at or checked < too_old_next_time:
            due.add(project.project_id)
        else:
            others.append(project)
    if len(due) < share:
        others.sort(key=lambda p: (p.quota_checked_at, p.project_id))
        due.update(p.project_id for p in others[: share - len(due)])
    return due
