"""Admission: granted quota never exceeds capacity.

Per region and resource, the sum of what is granted stays within raw capacity
times overcommit, and businesses together stay outside the agencies' reserved
share. The check and the reservation happen in one transaction that holds the
region's lock (a row lock on PostgreSQL; the database write lock on SQLite,
where every transaction begins IMMEDIATE), so two requests for the last free
capacity can never both be admitted.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.domain.regions import Region
from controlplane.domain.resources import Amounts, Resource, amounts
from controlplane.domain.states import OrganisationKind, ProjectState
from controlplane.persistence.models import Organisation, Project, RegionRow


@dataclass(frozen=True)
class Shortfall:
    resource: Resource
    requested: int
    free: int
    scope: str  # "region" or "business share"

    def describe(self) -> str:
        return f"{self.resource.value}: requested {self.requested}, free {self.free} ({self.scope})"


def ensure_regions(session: Session, region_ids: list[str]) -> None:
    """Create the lock row of every catalogue region (safe when several processes start at once)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    for region_id in region_ids:
        session.execute(insert(RegionRow).values(id=region_id, admissions=0).on_conflict_do_nothing())


def lock_region(session: Session, region_id: str) -> None:
    # NO KEY UPDATE, not UPDATE: rows inserted earlier in the same transaction that reference the
    # region (requests, projects) hold KEY SHARE on it, which a plain FOR UPDATE would wait on and
    # deadlock against a concurrent admission doing the same.
    row = session.scalar(select(RegionRow).where(RegionRow.id == region_id).with_for_update(key_share=True))  # FOR NO KEY UPDATE
    if row is None:
        raise LookupError(f"region {region_id} has no lock row: ensure_regions was not run at start-up")
    row.admissions += 1


def granted_in_region(session: Session, region_id: str, *, excluding_project: str | None = None) -> tuple[Amounts, Amounts]:
    """(all organisations, businesses only) granted totals in a region."""
    rows = session.execute(
        select(Project.id, Project.granted, Organisation.kind)
        .join(Organisation, Organisation.id == Project.organisation_id)
        .where(Project.region_id == region_id, Project.state != ProjectState.DECOMMISSIONED.value)
    )
    total, business = amounts(), amounts()
    for project_id, granted, kind in rows:
        if project_id == excluding_project:
            continue
        for resource, value in amounts(granted).items():
            total[resource] += value
            if kind == OrganisationKind.BUSINESS.value:
                business[resource] += value
    return total, business


def shortfalls(
    session: Session, region: Region, kind: OrganisationKind, requested: Amounts,
    *, project_id: str | None = None, current: Amounts | None = None,
) -> list[Shortfall]:
    """What does not fit. Call with the region locked. Only increases are checked:
    keeping or lowering an amount never makes a region more full."""
    current = current or amounts()
    total, business = granted_in_region(session, region.id, excluding_project=project_id)
    limits = [("region", region.effective_capacity(), total)]
    if kind == OrganisationKind.BUSINESS:
        limits.append(("business share", region.limit_for(kind), business))
    found = []
    for resource in Resource:
        if requested[resource] <= current.get(resource, 0):
            continue
        for scope, limit, used in limits:
            free = max(limit[resource] - used[resource], 0)
            if requested[resource] > free:
                found.append(Shortfall(resource, requested[resource], free, scope))
                break
    return found
