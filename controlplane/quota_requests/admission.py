"""Admission: granted quota never exceeds capacity.

Per region and resource, the sum of what is granted stays within raw capacity
times overcommit, and businesses together stay outside the agencies' reserved
share. The check and the reservation happen in one transaction that holds the
region's lock (a row lock on its running totals on PostgreSQL; the database
write lock on SQLite, where every transaction begins IMMEDIATE), so two requests
for the last free capacity can never both be admitted. The check reads the
running totals (controlplane.capacity), never the projects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from controlplane.capacity import SAME_FUNDING, LockedRegion, lock_region, move, programme_room, region_capacity
from controlplane.domain.regions import Region
from controlplane.domain.resources import Amounts, Resource, amounts, as_plain
from controlplane.domain.states import OrganisationKind
from controlplane.persistence.models import RegionRow, RegionTotals

__all__ = ["NoRoom", "Shortfall", "ensure_regions", "lock_region", "reserve", "shortfalls"]


@dataclass(frozen=True)
class Shortfall:
    resource: Resource
    requested: int
    free: int
    scope: str  # "region", "business share" or "programme <id>"

    def describe(self) -> str:
        return f"{self.resource.value}: requested {self.requested}, free {self.free} ({self.scope})"


class NoRoom(Exception):
    def __init__(self, shortfalls: list[Shortfall]) -> None:
        super().__init__("; ".join(s.describe() for s in shortfalls))
        self.shortfalls = shortfalls


def reserve(
    session: Session,
    region: Region,
    organisation_kind: str,
    before: Amounts,
    after: Amounts,
    programme: str | None = None,
    *,
    to_programme: str | None | object = SAME_FUNDING,
) -> None:
    """Lock the region, check that a project going from `before` to `after` fits, and move the
    totals; raise NoRoom with what does not fit. `programme` is the project's funding (None: the
    general pool); `to_programme`, when given, its new funding (a programme ended), into which the
    whole of `after` must fit. Called last in the transaction, once everything else is written, so
    that the region's lock is held only for this and the commit."""
    locked = lock_region(session, region.id)
    switching = to_programme is not SAME_FUNDING and to_programme != programme
    target = to_programme if switching else programme
    missing = shortfalls(
        locked,
        region,
        OrganisationKind(organisation_kind),
        after,
        current=None if switching else before,
        programme=target,  # type: ignore[arg-type]
    )
    if missing:
        raise NoRoom(missing)
    move(session, locked, organisation_kind, as_plain(before), as_plain(after), programme, to_programme=target)


def ensure_regions(session: Session, region_ids: list[str]) -> None:
    """Create the rows of every catalogue region, its totals at zero (safe when several processes
    start at once: an existing row is left as it is)."""
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql_insert if dialect == "postgresql" else sqlite_insert
    for region_id in region_ids:
        session.execute(insert(RegionRow).values(id=region_id, admissions=0).on_conflict_do_nothing())
        session.execute(
            insert(RegionTotals)
            .values(region_id=region_id, granted={}, granted_business={}, granted_programmes={})
            .on_conflict_do_nothing()
        )


def shortfalls(
    locked: LockedRegion,
    region: Region,
    kind: OrganisationKind,
    requested: Amounts,
    *,
    current: Amounts | None = None,
    programme: str | None = None,
) -> list[Shortfall]:
    """What does not fit, given the region's totals read under its lock. `current` is what the
    requesting project holds now (counted in the totals, in the same funding). Only increases are
    checked: keeping or lowering an amount never makes a region more full. A project funded by a
    `programme` must fit that programme's reserve, and nothing else; any other the general pool."""
    current = current or amounts()
    view = region_capacity(region, locked.sums)
    found = []
    for resource in Resource:
        if requested[resource] <= current.get(resource, 0):
            continue
        holding = current.get(resource, 0)
        if programme is not None:
            limits = [(f"programme {programme}", programme_room(region, locked.sums, programme, resource, holding))]
        else:
            limits = view.resources[resource].room(kind, holding=holding)
        for scope, free in limits:
            if requested[resource] > free:
                found.append(Shortfall(resource, requested[resource], free, scope))
                break
    return found
